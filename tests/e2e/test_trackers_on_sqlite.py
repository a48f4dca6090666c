"""Several trackers each started on its own SQLite database by mistake: each warns at
start, and a client that fails over says why the next tracker does not know it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minitorrent.driver import Client, Tracker, free_port, password_of, stop_all

from ..conftest import FAST_PASSWORD_HASH

WARNING = (
    r"^warning: this tracker keeps its own SQLite database: it shares no accounts, groups or "
    r"sessions with the other 1 tracker\(s\) of .*two_trackers\.txt; to run several "
    r"trackers, give each the same --db postgresql://USER@HOST/DB$"
)


@pytest.fixture
def two_sqlite_trackers(tmp_path: Path) -> Iterator[tuple[Path, list[Tracker]]]:
    info = tmp_path / "two_trackers.txt"
    info.write_text(f"127.0.0.1:{free_port()}\n127.0.0.1:{free_port()}\n")
    started: list[Tracker] = []
    try:
        for number in (1, 2):
            db = f"sqlite:///{tmp_path / f'tracker{number}.db'}"
            started.append(Tracker(info, number, db, env=FAST_PASSWORD_HASH))
        yield info, started
    finally:
        stop_all(started)


def test_each_tracker_on_its_own_sqlite_warns_at_start(
    two_sqlite_trackers: tuple[Path, list[Tracker]],
) -> None:
    _, trackers = two_sqlite_trackers
    for tracker in trackers:
        assert any(re.match(WARNING, line) for line in tracker.lines), tracker.lines


def test_one_tracker_on_sqlite_does_not_warn(tracker: Tracker) -> None:
    assert not any(line.startswith("warning:") for line in tracker.lines), tracker.lines


def test_failover_to_a_tracker_that_does_not_know_the_session_says_so(
    two_sqlite_trackers: tuple[Path, list[Tracker]], start_client: Callable[..., Client]
) -> None:
    info, (first, _) = two_sqlite_trackers
    client = start_client(info=info)
    client.ok(f"create_user ann {password_of('ann')}")
    client.ok(f"login ann {password_of('ann')}")  # on tracker 1, the first of the file
    urls = [f"http://{entry}" for entry in info.read_text().split()]
    assert first.quit() == 0
    client.fails(
        "list_groups",
        rf"^error: tracker {re.escape(urls[1])} does not know this session: it does not "
        rf"share a database with {re.escape(urls[0])}; log in again$",
    )
    client.fails("list_groups", r"^error: not logged in")  # the session ended here too


def test_a_tracker_on_postgresql_does_not_warn(tmp_path: Path, postgres_url: str) -> None:
    info = tmp_path / "two_trackers.txt"
    info.write_text(f"127.0.0.1:{free_port()}\n127.0.0.1:{free_port()}\n")
    tracker = Tracker(info, 1, postgres_url, env=FAST_PASSWORD_HASH)
    try:
        assert not any(line.startswith("warning:") for line in tracker.lines), tracker.lines
    finally:
        stop_all([tracker])
