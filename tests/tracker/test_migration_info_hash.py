"""A database written before the info-hash became a file's only identity (revision 0003,
whose files carry a whole-file sha1) is upgraded in place, on SQLite and PostgreSQL: its
files stay listed, their info dictionaries are served, and clients share them again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from minitorrent.metainfo import InfoDict
from minitorrent.tracker.context import password_hasher
from minitorrent.tracker.db import MIGRATIONS, Database, make_engine
from minitorrent.tracker.services import files
from minitorrent.tracker.settings import TrackerSettings

from .conftest import BACKENDS
from .helpers import FAST_HASH, FakeClock, info_hash, make_group, make_info, make_users

DATA = bytes(range(256)) * 200


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url


def _database_at_0003(url: str, info: bytes, clock: FakeClock) -> None:
    """What the previous version left: a file registered with its whole-file sha1."""
    engine = make_engine(url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
        hasher = password_hasher(TrackerSettings(db_url=url, **FAST_HASH))
        with Session(engine) as db, db.begin():
            make_users(db, hasher, clock(), "ann", "bob")
            make_group(db, clock(), "g", "ann", "bob")
            db.execute(
                text(
                    "INSERT INTO files (info_hash, group_id, name, length, piece_length, sha1,"
                    " info, completed, created_at) VALUES (:ih, 'g', 'old.bin', :n, 16384,"
                    " :sha1, :info, 0, :now)"
                ),
                {
                    "ih": info_hash(info),
                    "n": len(DATA),
                    "sha1": hashlib.sha1(DATA).hexdigest(),
                    "info": info,
                    "now": clock(),
                },
            )
            db.execute(
                text(
                    "INSERT INTO shares (file_id, user_id, created_at)"
                    " SELECT id, 'ann', :now FROM files"
                ),
                {"now": clock()},
            )
    finally:
        engine.dispose()


def test_a_file_registered_with_a_sha1_is_still_listed_and_served_after_the_upgrade(
    empty_url: str,
) -> None:
    clock = FakeClock()
    info = make_info("g", "old.bin", DATA)
    _database_at_0003(empty_url, info, clock)
    with Database.open(empty_url) as database, database.session() as db, db.begin():
        conn = db.connection()
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0004"
        assert "sha1" not in {c["name"] for c in inspect(conn).get_columns("files")}
        [view] = files.list_files(db, "bob", "g", now=clock())
        assert (view.name, view.length, view.info_hash) == ("old.bin", len(DATA), info_hash(info))
        assert view.sharers == 1  # ann's share survived the upgrade
        details = files.get_file(db, "bob", "g", "old.bin", now=clock())
        assert InfoDict.decode(details.info).info_hash_hex == info_hash(info)
        # A client of this version, with no sha1 to send, shares the same content again.
        files.share_file(db, "bob", "g", info, now=clock())
        [view] = files.list_files(db, "bob", "g", now=clock())
        assert view.sharers == 2
