"""Database set-up: default location, migrations, SQLite pragmas, the one-tracker lock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from minitorrent.errors import ConfigError
from minitorrent.tracker.db import MIGRATIONS, Database, default_db_url, display_url
from minitorrent.tracker.models import Base


def test_default_db_url_is_per_tracker_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = default_db_url(3)
    assert url == f"sqlite:///{tmp_path / 'data' / 'minitorrent' / 'tracker-3.db'}"
    assert (tmp_path / "data" / "minitorrent").is_dir()


def test_display_url_hides_the_password() -> None:
    shown = display_url("postgresql://me:s3cret@db.example/minitorrent")
    assert "s3cret" not in shown and shown == "postgresql://me@db.example/minitorrent"


def test_fresh_sqlite_database_is_migrated_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    with (
        Database.open(f"sqlite:///{tmp_path / 't.db'}") as database,
        database.engine.connect() as c,
    ):
        assert c.scalar(text("SELECT version_num FROM alembic_version")) == "0004"
        assert c.scalar(text("PRAGMA journal_mode")) == "wal"
        assert c.scalar(text("PRAGMA foreign_keys")) == 1


def _schema_differences(conn: Connection) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models."""
    differences: list[Any] = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    return differences


def test_migrations_build_the_models_schema_and_go_down_and_up_again(tmp_path: Path) -> None:
    with Database.open(f"sqlite:///{tmp_path / 't.db'}") as database:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with database.engine.begin() as conn:
            assert _schema_differences(conn) == []
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
            command.upgrade(config, "head")
            assert _schema_differences(conn) == []


def test_second_opener_of_an_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    first = Database.open(url)
    with pytest.raises(ConfigError, match=r"is in use by another tracker; use PostgreSQL"):
        Database.open(url)
    first.close()
    Database.open(url).close()  # the lock went with the first


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file or directory"):
        Database.open(f"sqlite:///{tmp_path / 'nope' / 't.db'}")


def test_in_memory_sqlite_works_without_a_lock() -> None:
    with Database.open("sqlite://") as database, database.session() as db:
        assert db.scalar(text("SELECT count(*) FROM users")) == 0


def test_a_read_session_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """The event loop reads SQLite itself (Database.runs_on_event_loop): such a read must
    never wait for a writer, which holds the write lock from BEGIN IMMEDIATE on."""
    with Database.open(f"sqlite:///{tmp_path / 't.db'}") as db:
        assert db.runs_on_event_loop
        with db.session() as writer, writer.begin():
            writer.execute(
                text(
                    "INSERT INTO users (id, password_hash, passkey, created_at) "
                    "VALUES ('w', 'x', 'k', '2030-01-01 00:00:00')"
                )
            )
            with db.read_session() as reader, reader.begin():
                assert reader.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
        with db.read_session() as reader, reader.begin():
            assert reader.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
