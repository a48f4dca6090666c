"""Fixtures shared by the end-to-end tests: a tracker and clients on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minitorrent.driver import Client, Process, Tracker, free_port


@pytest.fixture
def tracker_info(tmp_path: Path) -> Path:
    path = tmp_path / "tracker_info.txt"
    path.write_text(f"127.0.0.1\n{free_port()}\n")
    return path


@pytest.fixture
def tracker(tmp_path: Path, tracker_info: Path) -> Iterator[Tracker]:
    proc = Tracker(tracker_info, 1, f"sqlite:///{tmp_path / 'tracker.db'}")
    yield proc
    proc.stop()


@pytest.fixture
def make_client(
    tmp_path: Path, tracker_info: Path, tracker: Tracker
) -> Iterator[Callable[..., Client]]:
    started: list[Process] = []
    counter = iter(range(1000))

    def make(*extra: str, state: str | None = None) -> Client:
        state_dir = tmp_path / "state" / (state or f"client{next(counter)}")
        client = Client(tracker_info, state_dir, "--announce-interval", "2", *extra)
        started.append(client)
        return client

    yield make
    for proc in started:
        proc.stop()
