"""The client's per-user state file: a damaged one is moved aside, never fatal; one that
cannot be used is refused with a reason; it is private; older files are brought up to date."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from minitorrent.client.state import (
    SCHEMA,
    DownloadRecord,
    ShareRecord,
    StateUnusable,
    UserState,
    damage_of,
    open_user_state,
)

RECORD = DownloadRecord("ab" * 20, "lab", "f.bin", "/d/f.bin", "/d/f.bin.part", b"i", b"\1")


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


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_state_folders_and_files_are_private(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state = open_user_state(state_dir, "alice")
    state.put_download(RECORD)  # the write-ahead log and its index exist now
    folder = state_dir / "users" / "alice"
    assert [mode(d) for d in (state_dir, state_dir / "users", folder)] == [0o700] * 3
    files = [folder / name for name in ("state.db", "state.db-wal", "state.db-shm")]
    assert [mode(f) for f in files] == [0o600] * 3
    state.close()


def test_loose_modes_of_an_older_version_are_tightened(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    folder = state_dir / "users" / "alice"
    folder.mkdir(parents=True)
    UserState(folder / "state.db").close()
    leftovers = [folder / f"state.db{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
    for path in leftovers:
        path.touch()
        path.chmod(0o644)
    for directory in (state_dir, state_dir / "users", folder):
        directory.chmod(0o755)

    state = open_user_state(state_dir, "alice")
    assert [mode(d) for d in (state_dir, state_dir / "users", folder)] == [0o700] * 3
    assert [mode(f) for f in leftovers] == [0o600] * 4
    state.close()


def test_an_older_state_file_gains_the_stopped_column_and_drops_the_sha1s(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as db:  # as the previous version left it
        db.executescript(SCHEMA)
        db.execute(
            "INSERT INTO downloads VALUES (?,?,?,?,?,?,?,?)",
            (RECORD.info_hash, "lab", "f.bin", "/d/f.bin", "/d/f.bin.part", "0" * 40, b"i", b"\1"),
        )
        db.execute(
            "INSERT INTO shares VALUES (?,?,?,?,?,?,?,?,?)",
            ("cd" * 20, "lab", "g.bin", "/s/g.bin", 5, 7, "1" * 40, b"j", 11),
        )
        db.commit()
    state = UserState(path)
    assert state.downloads() == [RECORD]  # not stopped: resumed at login as before
    assert state.shares() == [ShareRecord("cd" * 20, "lab", "g.bin", "/s/g.bin", 5, 7, b"j", 11)]
    state.stop_download(RECORD.info_hash, "cancelled")
    state.close()
    assert UserState(path).downloads() == [replace(RECORD, stopped="cancelled")]


def test_a_newer_or_unopenable_state_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    UserState(path).close()
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StateUnusable, match=r"state\.db: it was written by a newer version"):
        UserState(path)
    assert path.exists()  # left alone for the newer version

    folder = tmp_path / "dir"
    (folder / "state.db").mkdir(parents=True)
    with pytest.raises(StateUnusable, match=r"state\.db: Is a directory"):
        UserState(folder / "state.db")


def test_a_record_of_the_wrong_types_is_named_damaged() -> None:
    assert damage_of(RECORD) is None
    assert damage_of(replace(RECORD, stopped=3)) == "its stopped is not str | None"  # type: ignore[arg-type]
    assert damage_of(replace(RECORD, info="text")) == "its info is not bytes"  # type: ignore[arg-type]
