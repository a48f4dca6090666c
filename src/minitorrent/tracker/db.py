"""Engine, session factory, migrations at start-up and the one-tracker-per-SQLite-file lock."""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import platformdirs
from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from minitorrent.errors import ConfigError
from minitorrent.tracker.services import changes
from minitorrent.tracker.services.changes import Change

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "minitorrent_read_only"  # execution option of Database.read_session
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Any constant shared by all trackers: serialises their migrations on one PostgreSQL.
PG_MIGRATION_LOCK_KEY = 0x6D696E69


def default_db_url(tracker_number: int) -> str:
    """The SQLite file of tracker N in the user's data directory (created if missing).
    That directory is ours: it is made private (0700) even if it already exists."""
    directory = Path(platformdirs.user_data_dir("minitorrent"))
    directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _make_private(directory, PRIVATE_DIR)
    return f"sqlite:///{directory / f'tracker-{tracker_number}.db'}"


# The database holds every passkey and password hash: no other local user may read it.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _make_private(path: Path, mode: int) -> None:
    """chmod a file or directory of ours that others may read; others' stay as they are."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & ~mode:
        path.chmod(stat.S_IMODE(st.st_mode) & mode)


def _private_sqlite_file(db_file: Path) -> None:
    """Create the database file private before SQLite opens it: SQLite creates its -wal
    and -shm files with the database file's mode. The directory of a --db path is the
    user's choice: it keeps its mode, and a missing one stays an error (a typo in the
    path must not create a tree)."""
    try:
        os.close(os.open(db_file, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
        for path in (db_file, *(db_file.with_name(db_file.name + s) for s in _SQLITE_SIDE_FILES)):
            _make_private(path, PRIVATE_FILE)
    except OSError as exc:
        raise ConfigError(f"cannot create {db_file}: {exc.strerror}") from None


def display_url(url: str) -> str:
    """The URL without its password, fit for a log line."""
    u = make_url(url)
    # URL.set(password=None) keeps the password: None means "unchanged" there.
    bare = URL.create(u.drivername, u.username, None, u.host, u.port, u.database, u.query)
    return bare.render_as_string(hide_password=False)


# Bare postgresql:// would pick psycopg2, which we do not ship; psycopg 3 is a dependency.
_DRIVER_ALIASES = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def parse_url(url: str | URL) -> URL:
    """The SQLAlchemy URL, with postgresql:// (and postgres://) meaning psycopg 3."""
    parsed = make_url(url)
    driver = _DRIVER_ALIASES.get(parsed.drivername)
    return parsed if driver is None else parsed.set(drivername=driver)


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().resolve()


class DatabaseLock:
    """An exclusive, non-blocking flock on '<db>.lock'; the kernel drops it if we die."""

    def __init__(self, db_file: Path, url: str) -> None:
        self.path = db_file.with_name(db_file.name + ".lock")
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot create {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise ConfigError(
                f"database {display_url(url)} is in use by another tracker; "
                "use PostgreSQL (--db postgresql://...) to run several trackers"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL is safe against corruption; only a power cut may lose the
        # last commits. FULL would fsync on every commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # In WAL mode a reader never waits for a writer. IMMEDIATE takes the write lock up
        # front: two deferred transactions that both read and then write would otherwise
        # fail with "database is locked" at once, without waiting for busy_timeout.
        begin = "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
        # On the driver's connection: through SQLAlchemy's execution path the statement
        # cost 40-50 us, a sixth of a simple request's transaction.
        conn.connection.driver_connection.execute(begin)  # type: ignore[union-attr]


def make_engine(url: str | URL) -> Engine:
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(parsed, pool_pre_ping=True)
        except ImportError as exc:
            raise ConfigError(
                f"no database driver for {parsed.drivername} ({exc.name} is not installed)"
            ) from None
    if _sqlite_file(parsed) is None:  # in-memory: one shared connection
        engine = create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_engine(parsed)
    _configure_sqlite(engine)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


class Database:
    """An open, migrated database; for SQLite also the lock that makes it ours."""

    def __init__(self, engine: Engine, lock: DatabaseLock | None) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self._lock = lock
        self._listeners: list[Callable[[list[Change]], None]] = []
        # What services record on a session (services/changes.py) is delivered once its
        # transaction commits, whoever opened it; a rollback drops it.
        event.listen(self.sessions, "after_commit", self._deliver)
        event.listen(self.sessions, "after_rollback", changes.take)

    def on_commit(self, listener: Callable[[list[Change]], None]) -> None:
        """Call `listener` with what each committed transaction ended (services/changes.py),
        in the committing thread, after the commit."""
        self._listeners.append(listener)

    def _deliver(self, session: Session) -> None:
        recorded = changes.take(session)
        if recorded:
            for listener in self._listeners:
                listener(recorded)

    @classmethod
    def open(cls, url: str) -> Database:
        """Lock (SQLite), connect and migrate; every failure is a ConfigError."""
        try:
            parsed = parse_url(url)
        except ArgumentError:
            raise ConfigError(
                "invalid database URL; expected e.g. sqlite:///PATH or postgresql://USER@HOST/DB"
            ) from None
        db_file = _sqlite_file(parsed)
        if db_file is not None:
            _private_sqlite_file(db_file)
        lock = None if db_file is None else DatabaseLock(db_file, url)
        engine = None
        try:
            engine = make_engine(parsed)
            migrate(engine)
        except BaseException as exc:
            if engine is not None:
                engine.dispose()
            if lock is not None:
                lock.release()
            if isinstance(exc, SQLAlchemyError):
                reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                raise ConfigError(f"cannot open database {display_url(url)}: {reason}") from None
            raise
        return cls(engine, lock)

    def session(self) -> Session:
        return self.sessions()

    def read_session(self) -> Session:
        """A session for reads only: with SQLite it does not take the write lock."""
        return self._read_sessions()

    @property
    def is_shared(self) -> bool:
        """Other trackers may write to it (PostgreSQL). An SQLite file is locked to one
        tracker (DatabaseLock), so what this process remembers of it stays true until the
        process itself changes it."""
        return self.engine.dialect.name != "sqlite"

    @property
    def runs_on_event_loop(self) -> bool:
        """SQLite: the event loop runs database work itself. A transaction costs
        microseconds; in WAL mode a read never waits for a lock, and writes take a
        database slot first (dbwork.DatabaseWork), so none waits
        for another's. In a worker thread that contends for the GIL with a saturated
        loop, the same read took seconds (W4, 1,000 connections)."""
        return self.engine.dialect.name == "sqlite"

    def close(self) -> None:
        self.engine.dispose()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
