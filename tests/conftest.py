"""Fixtures shared by the end-to-end tests: a tracker and clients on loopback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import IO

import pytest

from minitorrent.driver import Client, Process, Tracker, free_port, password_of, stop_all

from .postgres import PostgresServer, postgres_server

# Measurements that belong in the CI log (the load test's rate and latencies). pytest-xdist
# shows nothing a worker prints, so workers append them to files in a directory the
# controller made (workers inherit its environment) and the controller prints them last.
REPORTS = "MINITORRENT_TEST_REPORTS"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and REPORTS not in os.environ:
        os.environ[REPORTS] = tempfile.mkdtemp(prefix="minitorrent-reports-")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if hasattr(terminalreporter.config, "workerinput") or REPORTS not in os.environ:
        return
    lines = [
        line
        for path in sorted(Path(os.environ[REPORTS]).glob("*.txt"))
        for line in path.read_text().splitlines()
    ]
    if lines:
        terminalreporter.section("measurements")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Put a line under "measurements" at the end of the test run."""

    def write(line: str) -> None:
        name = request.node.nodeid.replace("/", "_").replace(":", "_")
        with open(Path(os.environ[REPORTS]) / f"{name}.txt", "a", encoding="utf-8") as f:
            f.write(f"{request.node.nodeid}: {line}\n")

    return write


# argon2id at its lowest cost: a login takes milliseconds instead of ~100 ms.
FAST_PASSWORD_HASH = {
    "MINITORRENT_TRACKER_PASSWORD_TIME_COST": "1",
    "MINITORRENT_TRACKER_PASSWORD_MEMORY_KIB": "8",
    "MINITORRENT_TRACKER_PASSWORD_PARALLELISM": "1",
}

# Tests create their users from one address (loopback), the load tests hundreds.
MANY_ACCOUNTS = {"MINITORRENT_TRACKER_SIGNUP_MAX_PER_ADDRESS": "100000"}


@pytest.fixture
def tracker_info(tmp_path: Path) -> Path:
    path = tmp_path / "tracker_info.txt"
    path.write_text(f"127.0.0.1\n{free_port()}\n")
    return path


@pytest.fixture
def tracker_db(tmp_path: Path) -> Path:
    """The SQLite file of the test's tracker (it survives a restart)."""
    return tmp_path / "tracker.db"


@pytest.fixture
def start_tracker(tracker_info: Path, tracker_db: Path) -> Iterator[Callable[..., Tracker]]:
    """Start a tracker (again) on the test's database; stopped at the end of the test."""
    started: list[Process] = []

    def start(
        *extra: str, info: Path | None = None, number: int = 1, env: dict[str, str] | None = None
    ) -> Tracker:
        proc = Tracker(
            info or tracker_info,
            number,
            f"sqlite:///{tracker_db}",
            *extra,
            env=FAST_PASSWORD_HASH | MANY_ACCOUNTS | (env or {}),
        )
        started.append(proc)
        return proc

    yield start
    stop_all(started)


@pytest.fixture
def tracker(start_tracker: Callable[..., Tracker]) -> Tracker:
    return start_tracker()


@pytest.fixture
def start_client(tmp_path: Path, tracker_info: Path) -> Iterator[Callable[..., Client]]:
    """Start a client; `info` points it at another tracker_info.txt (no tracker needed)."""
    started: list[Process] = []
    counter = iter(range(1000))

    def start(
        *extra: str,
        state: str | None = None,
        info: Path | None = None,
        merge_stderr: bool = True,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdin: int | IO[bytes] = subprocess.PIPE,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> Client:
        state_dir = tmp_path / "state" / (state or f"client{next(counter)}")
        client = Client(
            info or tracker_info,
            state_dir,
            "--announce-interval",
            "2",
            *extra,
            merge_stderr=merge_stderr,
            env=env,
            cwd=cwd,
            stdin=stdin,
            host=host,
            port=port,
        )
        started.append(client)
        return client

    yield start
    stop_all(started)


@pytest.fixture
def make_client(tracker: Tracker, start_client: Callable[..., Client]) -> Callable[..., Client]:
    """Start a client of the test's tracker (started before, stopped after the clients)."""
    return start_client


@pytest.fixture
def live_sessions(tracker_db: Path) -> Callable[[str], int]:
    """How many sessions of a user the tracker's database holds (logout revokes one)."""

    def count(user_id: str) -> int:
        with closing(sqlite3.connect(f"file:{tracker_db}?mode=ro", uri=True)) as db:
            (n,) = db.execute(
                "SELECT count(*) FROM sessions WHERE user_id = ?", (user_id,)
            ).fetchone()
        return int(n)

    return count


@pytest.fixture
def make_users(make_client: Callable[..., Client]) -> Callable[..., list[Client]]:
    """``make_users("alice", "bob", group="lab")``: one logged-in client per user, all
    members of the group; the first creates it (admin) and accepts the others.
    ``group=None``: users only, in no group.

    Each client's state directory is named after its user, so ``make_client(state=name)``
    starts another process of the same user (password: ``password_of(name)``)."""

    def make(*names: str, group: str | None = "lab", extra: tuple[str, ...] = ()) -> list[Client]:
        clients = [make_client(*extra, state=name) for name in names]
        for name, client in zip(names, clients, strict=True):
            client.ok(f"create_user {name} {password_of(name)}")
            client.ok(f"login {name} {password_of(name)}")
        if group is None:
            return clients
        admin = clients[0]
        admin.ok(f"create_group {group}")
        for name, client in zip(names[1:], clients[1:], strict=True):
            client.ok(f"join_group {group}")
            admin.ok(f"accept_request {group} {name}")
        return clients

    return make


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """This test process's PostgreSQL server, started on first use (tests/postgres.py)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (a tracker migrates it), dropped afterwards."""
    with postgres.database() as url:
        yield url
