"""What only PostgreSQL has to show: psycopg 3 URLs, the migrations both ways, and
several trackers (here: several Database objects) writing one group at the same time.

(Every other tracker test runs on PostgreSQL too, through the `db_url` fixture.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from minitorrent.driver import wait_until
from minitorrent.tracker.context import password_hasher
from minitorrent.tracker.db import MIGRATIONS, Database, parse_url
from minitorrent.tracker.models import Group, Membership
from minitorrent.tracker.services import groups
from minitorrent.tracker.settings import TrackerSettings

from ..postgres import PostgresServer
from .helpers import FAST_HASH, FakeClock, make_group, make_users


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgresql_urls_use_psycopg_3(scheme: str) -> None:
    assert parse_url(f"{scheme}://me@db/mt").drivername == "postgresql+psycopg"


def test_an_explicit_driver_is_kept() -> None:
    assert parse_url("postgresql+asyncpg://me@db/mt").drivername == "postgresql+asyncpg"


@pytest.fixture
def pg_url(postgres: PostgresServer, postgres_template: str) -> Iterator[str]:
    with postgres.database(postgres_template) as url:
        yield url


def test_migrations_go_down_and_up_again(pg_url: str) -> None:
    with Database.open(pg_url) as database, database.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
        assert conn.scalar(text("SELECT to_regclass('users')")) is None
        command.upgrade(config, "head")
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0004"


def _waiting_for_a_lock(database: Database) -> bool:
    with database.engine.connect() as conn:
        waiting = conn.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        )
    return bool(waiting)


def test_the_last_two_members_leaving_through_two_trackers_take_turns(pg_url: str) -> None:
    """Without the group lock, each would see the other still a member: the admin role
    would go to bob while bob leaves, and the group would stay, empty."""
    clock = FakeClock()
    hasher = password_hasher(TrackerSettings(**FAST_HASH))
    with Database.open(pg_url) as one, Database.open(pg_url) as two:
        with one.session() as db, db.begin():
            make_users(db, hasher, clock(), "alice", "bob")
            make_group(db, clock(), "lab", "alice", "bob")
        bob_left = threading.Event()

        def bob_leaves() -> None:
            with two.session() as db, db.begin():
                groups.leave_group(db, "bob", "lab")
            bob_left.set()

        with one.session() as db, db.begin():
            groups.leave_group(db, "alice", "lab")  # holds the group until commit
            bob = threading.Thread(target=bob_leaves)
            bob.start()
            wait_until(lambda: _waiting_for_a_lock(one), 10, "bob's leave to wait for the lock")
            assert not bob_left.is_set()
        bob.join(10)
        assert bob_left.is_set()
        with two.session() as db:
            assert db.get(Group, "lab") is None
            assert db.query(Membership).count() == 0
