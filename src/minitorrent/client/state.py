"""Per-user client state: what this user shares from this machine, and downloads.

One SQLite file per user under the state directory. SQLite makes every write
atomic and lets several client processes of the same user share the file
safely (WAL, busy timeout), which a hand-rolled JSON file would not: a process
killed at any point leaves the last committed state, never a torn one.

A state file damaged some other way (a disk error, a stray write) is moved aside at
open and a fresh one started (UserState.moved_aside): shares are then made again with
upload_file, and download_file finds a partial download's .part and re-checks it. One
that cannot be used at all (a directory, unreadable, written by a newer version) raises
StateUnusable, with the reason for the user.

The file holds what a user shares and from where: it is private, 0600 in 0700 folders.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from minitorrent.errors import MinitorrentError
from minitorrent.ids import folder_name

# The tables as the first version wrote them; MIGRATIONS bring them up to date.
SCHEMA = """
CREATE TABLE IF NOT EXISTS shares (
    info_hash TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha1 TEXT NOT NULL,
    info BLOB NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS downloads (
    info_hash TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    name TEXT NOT NULL,
    destination TEXT NOT NULL,
    part_path TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    info BLOB NOT NULL,
    have BLOB NOT NULL DEFAULT x''
);
"""
# Changes to the tables above, in order; PRAGMA user_version counts those applied.
MIGRATIONS = (
    # NULL: resume at login; else why it stopped ("cancelled", a failure): stays stopped.
    "ALTER TABLE downloads ADD COLUMN stopped TEXT",
    # NULL: the whole item; else the --only patterns of part of a folder, a JSON list.
    "ALTER TABLE downloads ADD COLUMN only TEXT",
    "ALTER TABLE shares ADD COLUMN only TEXT",
    # The whole-file SHA1 is gone: the info-hash, which binds the piece hashes, is the
    # file's identity. Files written before keep loading; their sha1 values are dropped.
    "ALTER TABLE shares DROP COLUMN sha1",
    "ALTER TABLE downloads DROP COLUMN sha1",
)
SCHEMA_VERSION = len(MIGRATIONS)
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# SQLite's companions of the database file: they hold the same data.
_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class ShareRecord:
    info_hash: str
    group_id: str
    name: str
    path: str
    size: int
    mtime_ns: int
    info: bytes
    uploaded: int = 0
    only: str | None = None  # part of a folder: its --only patterns (JSON); None: all


@dataclass(frozen=True, slots=True)
class DownloadRecord:
    info_hash: str
    group_id: str
    name: str
    destination: str
    part_path: str
    info: bytes
    have: bytes  # one byte per piece: 1 = verified
    stopped: str | None = None  # why it stopped for good (cancelled, failed); None: resume
    only: str | None = None  # part of a folder: its --only patterns (JSON); None: all


def damage_of(record: ShareRecord | DownloadRecord) -> str | None:
    """Why a record read back is unusable (a field of the wrong type), or None."""
    hints = typing.get_type_hints(type(record))
    for f in fields(record):
        expected = hints[f.name]
        if not isinstance(getattr(record, f.name), expected):
            return f"its {f.name} is not {getattr(expected, '__name__', expected)}"
    return None


class StateUnusable(MinitorrentError):
    """The state file cannot be opened or used, and moving it aside would not help."""


def open_user_state(state_dir: Path, user_id: str) -> UserState:
    """The state of `user_id` under `state_dir`, its folders made (or tightened) 0700."""
    folder = state_dir / "users" / folder_name(user_id)  # never ".." (ids.py)
    try:
        state_dir.parent.mkdir(parents=True, exist_ok=True)
        for directory in (state_dir, folder.parent, folder):
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=PRIVATE_DIR)
            _tighten(directory, stat.S_IFDIR | PRIVATE_DIR)
    except OSError as exc:
        raise StateUnusable(f"cannot use the state folder {folder}: {exc.strerror}") from None
    return UserState(folder / "state.db")


class UserState:
    """The state file of one user; safe to use from several processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.moved_aside: Path | None = None  # where a damaged state file went
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _make_private(path)
            try:
                self._db = _open(path)
            except Damaged:
                self.moved_aside = _move_aside(path)
                _make_private(path)
                self._db = _open(path)
        except (OSError, sqlite3.Error, StateUnusable) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise StateUnusable(f"cannot use the state file {path}: {reason}") from None

    def close(self) -> None:
        self._db.close()

    def damage_notice(self) -> str | None:
        """What to tell the user if the state file had to be started afresh."""
        if self.moved_aside is None:
            return None
        return (
            f"the state file {self.path} was damaged; it was moved to "
            f"{self.moved_aside.name} and a new one started: upload_file again what you "
            "shared, and download_file again resumes a download from its .part (re-checked)"
        )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- shares ---------------------------------------------------------------

    def put_share(self, share: ShareRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO shares VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    share.info_hash,
                    share.group_id,
                    share.name,
                    share.path,
                    share.size,
                    share.mtime_ns,
                    share.info,
                    share.uploaded,
                    share.only,
                ),
            )

    def shares(self) -> list[ShareRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM shares ORDER BY group_id, name").fetchall()
        return [ShareRecord(*row) for row in rows]

    def remove_share(self, info_hash: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM shares WHERE info_hash = ?", (info_hash,))

    def remove_group_shares(self, group_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM shares WHERE group_id = ?", (group_id,))

    def add_uploaded(self, info_hash: str, delta: int) -> None:
        if delta:
            with self._transaction() as db:
                db.execute(
                    "UPDATE shares SET uploaded = uploaded + ? WHERE info_hash = ?",
                    (delta, info_hash),
                )

    # -- downloads -------------------------------------------------------------

    def put_download(self, download: DownloadRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO downloads VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    download.info_hash,
                    download.group_id,
                    download.name,
                    download.destination,
                    download.part_path,
                    download.info,
                    download.have,
                    download.stopped,
                    download.only,
                ),
            )

    def download(self, info_hash: str) -> DownloadRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM downloads WHERE info_hash = ?", (info_hash,)
            ).fetchone()
        return DownloadRecord(*row) if row else None

    def downloads(self) -> list[DownloadRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM downloads ORDER BY group_id, name").fetchall()
        return [DownloadRecord(*row) for row in rows]

    def save_progress(self, info_hash: str, have: bytes) -> None:
        with self._transaction() as db:
            db.execute("UPDATE downloads SET have = ? WHERE info_hash = ?", (have, info_hash))

    def stop_download(self, info_hash: str, reason: str) -> None:
        """Keep a download stopped (not resumed at login) until download_file again."""
        with self._transaction() as db:
            db.execute("UPDATE downloads SET stopped = ? WHERE info_hash = ?", (reason, info_hash))

    def remove_download(self, info_hash: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM downloads WHERE info_hash = ?", (info_hash,))


class Damaged(Exception):
    """The state file is not a sound SQLite database (unlike locked or unreadable)."""


def _tighten(path: Path, mode: int) -> None:
    """Give `path` exactly `mode` (kind and permissions) if it exists, is of that kind
    and is ours: older versions made these files readable by every local user."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    kind_matches = stat.S_IFMT(st.st_mode) == stat.S_IFMT(mode)
    if kind_matches and st.st_uid == os.getuid() and st.st_mode != mode:
        os.chmod(path, stat.S_IMODE(mode))


def _make_private(path: Path) -> None:
    """Create the state file 0600 before SQLite does (it gives its -wal and -shm the
    file's mode), and tighten an existing one and its companions."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    os.close(fd)
    for suffix in ("", *_COMPANIONS):
        _tighten(Path(f"{path}{suffix}"), stat.S_IFREG | PRIVATE_FILE)


def _open(path: Path) -> sqlite3.Connection:
    """Connect, check the whole file (it is small) and bring its tables up to date."""
    db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        (verdict,) = db.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise Damaged(verdict)
        _migrate(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        if getattr(exc, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise Damaged(str(exc)) from None
        raise
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """Create missing tables and apply the changes this file has not had yet, at once
    (another process of the user may open it at the same moment)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StateUnusable(
                f"it was written by a newer version of minitorrent (schema {version}, "
                f"this one knows {SCHEMA_VERSION})"
            )
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        for statement in MIGRATIONS[version:]:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _move_aside(path: Path) -> Path:
    """Rename a damaged state file (and its write-ahead log, which SQLite would otherwise
    replay into the new file) to <name>.damaged-<time>; return the new name."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    with contextlib.suppress(FileNotFoundError):
        os.replace(f"{path}-wal", f"{aside}-wal")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(f"{path}-shm")  # an index of the log, rebuilt from it
    return aside
