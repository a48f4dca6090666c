"""Fixtures of the tracker tests.

The whole suite runs on both databases `db_url` yields: a fresh SQLite file and a
fresh PostgreSQL database per test, each a copy of a template migrated once per
session. PostgreSQL is the test suite's own throwaway server (tests/postgres.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from minitorrent.tracker.app import create_app
from minitorrent.tracker.context import password_hasher
from minitorrent.tracker.db import Database
from minitorrent.tracker.settings import TrackerSettings

from ..postgres import PostgresServer
from .helpers import FAST_HASH, FakeClock

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once; each test gets a copy (7x faster than migrating)."""
    path = tmp_path_factory.mktemp("template") / "tracker.db"
    Database.open(f"sqlite:///{path}").close()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    """A PostgreSQL database migrated once; CREATE DATABASE ... TEMPLATE copies it."""
    name = postgres.create_database()
    Database.open(postgres.url(name)).close()  # close: a template must have no connection
    return name


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    # Looked up lazily, so that SQLite-only runs never start PostgreSQL.
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "tracker.db")
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    template: str = request.getfixturevalue("postgres_template")
    postgres: PostgresServer = request.getfixturevalue("postgres")
    with postgres.database(template) as url:
        yield url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    with Database.open(db_url) as database:
        yield database


@pytest.fixture
def db(database: Database) -> Iterator[Session]:
    with database.session() as session, session.begin():
        yield session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(db_url: str) -> TrackerSettings:
    return TrackerSettings(db_url=db_url, **FAST_HASH)


@pytest.fixture
def hasher(settings: TrackerSettings) -> PasswordHasher:
    return password_hasher(settings)


@pytest.fixture
def app(settings: TrackerSettings, database: Database, clock: FakeClock) -> FastAPI:
    return create_app(settings, database=database, clock=clock, monotonic=clock.monotonic)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    # As a context manager: one event loop for all requests, and the lifespan runs.
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield client
