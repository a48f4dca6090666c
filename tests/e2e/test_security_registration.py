"""Registration and the tracker's files, as a client and a local user see them: quotas
as one error line, names that lie refused by the client too, a private database."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from fastbencode import bdecode, bencode  # type: ignore[attr-defined]

from minitorrent.driver import Client, Process, Tracker, minitorrent, stop_all, wait_until

from .sharing_helpers import KiB, list_files, quote, write_random

MakeUsers = Callable[..., list[Client]]
FAST_HASH = {
    "MINITORRENT_TRACKER_PASSWORD_TIME_COST": "1",
    "MINITORRENT_TRACKER_PASSWORD_MEMORY_KIB": "8",
    "MINITORRENT_TRACKER_PASSWORD_PARALLELISM": "1",
}


def test_a_quota_is_one_error_line_in_the_client(
    start_tracker: Callable[..., Tracker],
    start_client: Callable[..., Client],
    tmp_path: Path,
) -> None:
    start_tracker(env={"MINITORRENT_TRACKER_QUOTA_FILES_PER_MEMBER": "1"})
    ann = start_client(state="ann")
    ann.ok("create_user ann ann-password")
    ann.ok("login ann ann-password")
    ann.ok("create_group lab")
    first, second = tmp_path / "files" / "one.bin", tmp_path / "files" / "two.bin"
    write_random(first, 10 * KiB, seed=1)
    write_random(second, 10 * KiB, seed=2)
    ann.ok(f"upload_file {quote(first)} lab")
    ann.fails(
        f"upload_file {quote(second)} lab",
        r"^error: quota reached: you already share the most files a member may in 'lab' \(1\)$",
    )
    assert list(list_files(ann, "lab")) == ["one.bin"]


def _lying_info(info: bytes) -> bytes:
    """The same info dict with a name that shows as 'reportexe.pdf'."""
    fields = bdecode(info)
    fields[b"name"] = "report\u202efdp.exe".encode()
    return bytes(bencode(fields))


def test_the_client_refuses_a_name_that_lies_even_from_the_tracker(
    make_users: MakeUsers, tracker_db: Path, tmp_path: Path
) -> None:
    """A tracker from before the rule (or a hostile one) may still hold such a name:
    the client decodes every info dict itself and refuses it."""
    ann, bob = make_users("ann", "bob")
    report = tmp_path / "files" / "report.pdf"
    write_random(report, 10 * KiB, seed=3)
    ann.ok(f"upload_file {quote(report)} lab")
    with closing(sqlite3.connect(tracker_db)) as db, db:
        (info,) = db.execute("SELECT info FROM files WHERE name = 'report.pdf'").fetchone()
        db.execute("UPDATE files SET info = ? WHERE name = 'report.pdf'", (_lying_info(info),))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    refusal = r"^error: the file name 'report\\u202efdp\.exe' contains .* U\+202E$"
    bob.fails(f"download_file lab report.pdf {quote(inbox)}", refusal)
    bob.fails(f"export_torrent lab report.pdf {quote(tmp_path / 'x.torrent')}", refusal)
    assert list(inbox.iterdir()) == [] and not (tmp_path / "x.torrent").exists()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _database_files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def test_the_tracker_database_is_private(
    start_tracker: Callable[..., Tracker], tracker_db: Path
) -> None:
    chosen = tracker_db.parent  # a directory the user chose keeps its mode
    chosen.chmod(0o755)
    tracker_db.touch(mode=0o644)  # a file of an older version, readable by all
    tracker_db.chmod(0o644)
    start_tracker()
    files = _database_files(tracker_db)
    wait_until(lambda: all(p.exists() for p in files), 10, "the database's -wal and -shm")
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert _mode(chosen) == 0o755


def test_the_default_data_directory_is_private(tmp_path: Path, tracker_info: Path) -> None:
    data = tmp_path / "xdg-data"
    env = FAST_HASH | {"XDG_DATA_HOME": str(data), "HOME": str(tmp_path / "home")}
    tracker = Process(minitorrent("tracker", str(tracker_info), "1"), env=env)
    try:
        tracker.wait_for_line(r"listening on")
        directory = data / "minitorrent"
        files = _database_files(directory / "tracker-1.db")
        wait_until(lambda: all(p.exists() for p in files), 10, "the database's -wal and -shm")
        assert _mode(directory) == 0o700
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        stop_all([tracker])
