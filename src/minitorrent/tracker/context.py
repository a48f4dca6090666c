"""Everything a request handler needs, built once per app from the settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import anyio
from argon2 import PasswordHasher

from minitorrent.tracker.db import Database
from minitorrent.tracker.services import swarm, users
from minitorrent.tracker.services.clock import Clock, utcnow
from minitorrent.tracker.services.throttle import LoginThrottle
from minitorrent.tracker.settings import TrackerSettings


def password_hasher(settings: TrackerSettings) -> PasswordHasher:
    """argon2id (argon2-cffi's default type) at the configured cost."""
    return PasswordHasher(
        time_cost=settings.password_time_cost,
        memory_cost=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )


def database_slots(database: Database) -> int:
    """How many requests may hold a database transaction at once (see api/deps.db_slot).

    SQLite: one, since every transaction takes the write lock up front (BEGIN IMMEDIATE).
    Otherwise the connection pool's size, so no request waits for a connection while
    holding a worker thread."""
    if database.engine.dialect.name == "sqlite":
        return 1
    size = getattr(database.engine.pool, "size", None)
    return max(1, int(size())) if callable(size) else 8


@dataclass
class TrackerContext:
    settings: TrackerSettings
    database: Database
    clock: Clock
    hasher: PasswordHasher
    throttle: LoginThrottle
    policy: swarm.SwarmPolicy
    db_slots: anyio.Semaphore

    @classmethod
    def create(
        cls,
        settings: TrackerSettings,
        database: Database,
        *,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> TrackerContext:
        return cls(
            settings=settings,
            database=database,
            clock=clock,
            hasher=password_hasher(settings),
            throttle=LoginThrottle(
                max_per_user=settings.login_max_failures_per_user,
                max_per_ip=settings.login_max_failures_per_ip,
                window=settings.login_window,
                clock=monotonic,
            ),
            policy=swarm.SwarmPolicy(
                default_interval=settings.announce_interval,
                grace=settings.peer_grace,
                max_peers=settings.max_peers,
            ),
            db_slots=anyio.Semaphore(database_slots(database)),
        )

    @property
    def idle_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.session_idle_ttl)

    def cleanup(self) -> None:
        """Drop expired peers and sessions and stale login counters."""
        now = self.clock()
        with self.database.session() as db, db.begin():
            swarm.prune_expired(db, now=now)
            users.expire_sessions(db, now=now, idle_ttl=self.idle_ttl)
        self.throttle.sweep()
