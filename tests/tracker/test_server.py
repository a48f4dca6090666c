"""The tracker as a real process: start-up line, quit on stdin, signals, restart, the lock."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from minitorrent.driver import free_port

STARTUP_TIMEOUT = 20.0
LOCK_MESSAGE = (
    "is in use by another tracker; use PostgreSQL (--db postgresql://...) to run several trackers"
)


class TrackerProcess:
    def __init__(self, db_file: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.db_url = f"sqlite:///{db_file}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "minitorrent.tracker.server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db",
                self.db_url,
                "--tracker-number",
                "2",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={
                **os.environ,
                "MINITORRENT_TRACKER_PASSWORD_TIME_COST": "1",
                "MINITORRENT_TRACKER_PASSWORD_MEMORY_KIB": "8",
                "MINITORRENT_TRACKER_PASSWORD_PARALLELISM": "1",
            },
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def first_line(self, timeout: float = STARTUP_TIMEOUT) -> str:
        """The first stdout line, or "" if the process ended first."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                if time.monotonic() >= deadline:
                    raise TimeoutError("the tracker printed nothing")
        return self.proc.stdout.readline().decode()

    def wait_listening(self) -> None:
        line = self.first_line()
        assert line == (f"tracker 2 listening on {self.url} (database: {self.db_url})\n"), (
            line + self.stderr()
        )

    def finish(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read().decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


Start = Callable[..., TrackerProcess]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start a tracker on tmp_path/t.db (port=... to reuse a port); all are killed at the end."""
    started: list[TrackerProcess] = []

    def start(port: int | None = None) -> TrackerProcess:
        started.append(TrackerProcess(tmp_path / "t.db", port))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


def _assert_clean_exit(tracker: TrackerProcess) -> None:
    assert tracker.finish() == 0
    err = tracker.stderr()
    assert "Traceback" not in err, err


def test_quit_on_stdin_and_data_survives_a_restart(start: Start) -> None:
    tracker = start()
    tracker.wait_listening()
    user = {"user_id": "ann", "password": "pw"}
    assert httpx.post(f"{tracker.url}/api/v1/users", json=user).status_code == 201
    assert tracker.proc.stdin is not None
    tracker.proc.stdin.write(b"quit\n")
    tracker.proc.stdin.flush()
    _assert_clean_exit(tracker)

    again = start(port=tracker.port)  # the lock and the port were released
    again.wait_listening()
    assert httpx.post(f"{again.url}/api/v1/sessions", json=user).status_code == 201
    again.proc.send_signal(signal.SIGINT)
    _assert_clean_exit(again)


def test_end_of_stdin_does_not_stop_it_and_sigterm_does(start: Start) -> None:
    tracker = start()
    tracker.wait_listening()
    assert tracker.proc.stdin is not None
    tracker.proc.stdin.close()
    with pytest.raises(subprocess.TimeoutExpired):
        tracker.proc.wait(timeout=1.0)
    answer = httpx.get(f"{tracker.url}/api/v1/groups")
    assert answer.status_code == 401 and answer.json()["error"] == "not_logged_in"
    tracker.proc.send_signal(signal.SIGTERM)
    _assert_clean_exit(tracker)


def test_second_tracker_on_the_same_sqlite_file_is_refused(start: Start) -> None:
    first = start()
    first.wait_listening()
    second = start()
    assert second.first_line() == ""  # it printed no "listening" line
    assert second.finish() == 1
    err = second.stderr()
    assert LOCK_MESSAGE in err and "Traceback" not in err, err
    first.proc.send_signal(signal.SIGTERM)
    _assert_clean_exit(first)
