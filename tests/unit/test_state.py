"""The client's per-user state file: a damaged one is moved aside, never fatal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minitorrent.client.state import DownloadRecord, UserState

RECORD = DownloadRecord(
    "ab" * 20, "lab", "f.bin", "/d/f.bin", "/d/f.bin.part", "0" * 40, b"i", b"\1"
)


def test_state_survives_reopening(tmp_path: Path) -> None:
    state = UserState(tmp_path / "state.db")
    state.put_download(RECORD)
    state.close()
    again = UserState(tmp_path / "state.db")
    assert again.downloads() == [RECORD]
    assert again.moved_aside is None and again.damage_notice() is None


@pytest.mark.parametrize("junk", [b"not a database" * 300, os.urandom(8192)])
def test_damaged_state_file_is_moved_aside(tmp_path: Path, junk: bytes) -> None:
    path = tmp_path / "state.db"
    state = UserState(path)
    state.put_download(RECORD)
    state.close()
    path.write_bytes(junk)

    fresh = UserState(path)
    assert fresh.downloads() == []  # a new, working state file
    fresh.put_download(RECORD)
    assert fresh.downloads() == [RECORD]
    assert fresh.moved_aside is not None
    assert fresh.moved_aside.parent == tmp_path
    assert fresh.moved_aside.name.startswith("state.db.damaged-")
    assert fresh.moved_aside.read_bytes() == junk  # kept for a post-mortem
    notice = fresh.damage_notice()
    assert notice is not None and fresh.moved_aside.name in notice
