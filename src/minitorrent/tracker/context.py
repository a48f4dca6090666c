"""Everything a request handler needs, built once per app from the settings."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

import anyio
from argon2 import PasswordHasher
from sqlalchemy.exc import SQLAlchemyError

from minitorrent.tracker.db import Database
from minitorrent.tracker.services import swarm, users
from minitorrent.tracker.services.clock import Clock, utcnow
from minitorrent.tracker.services.errors import DomainError
from minitorrent.tracker.services.throttle import LoginThrottle, SignupThrottle
from minitorrent.tracker.settings import TrackerSettings
from minitorrent.tracker.slots import Slots
from minitorrent.tracker.swarm_cache import REFRESH, SOLE_REFRESH, SwarmCache
from minitorrent.tracker.ttl_cache import TtlCache

log = logging.getLogger(__name__)
V = TypeVar("V")
R = TypeVar("R")


def password_hasher(settings: TrackerSettings) -> PasswordHasher:
    """argon2id (argon2-cffi's default type) at the configured cost."""
    return PasswordHasher(
        time_cost=settings.password_time_cost,
        memory_cost=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )


def hashing_slots() -> int:
    """How many argon2 hashes run at once: half the cores, so the event loop always
    has one (20 at once kept GET /me waiting seconds) and memory stays bounded (each
    hash takes password_memory_kib)."""
    return max(1, (os.cpu_count() or 2) // 2)


def database_slots(database: Database) -> int:
    """How many requests may hold a database transaction at once (see api/deps.get_db).

    SQLite: one, since every transaction takes the write lock up front (BEGIN IMMEDIATE).
    Otherwise the connection pool's size, so no request waits for a connection while
    holding a worker thread."""
    if database.engine.dialect.name == "sqlite":
        return 1
    size = getattr(database.engine.pool, "size", None)
    return max(1, int(size())) if callable(size) else 8


@dataclass(frozen=True)
class _Source(Generic[V]):
    """Where a cache's answers come from."""

    cache: TtlCache[str, V]
    load: Callable[[str], V | None]  # blocking; None: no such thing (not cached)
    read_only: bool


@dataclass
class TrackerContext:
    settings: TrackerSettings
    database: Database
    clock: Clock
    hasher: PasswordHasher
    throttle: LoginThrottle
    signups: SignupThrottle
    policy: swarm.SwarmPolicy
    db_slots: Slots
    hash_slots: Slots
    swarms: SwarmCache
    # Answers the database gave less than REFRESH (SOLE_REFRESH) seconds ago, for the hot
    # requests; the routes that end sessions or change passkeys drop theirs at once.
    sessions: TtlCache[str, users.Authenticated]  # bearer token -> caller
    passkeys: TtlCache[str, str]  # passkey -> user id
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        # authenticate may write (it refreshes the session's idle timer): not read-only.
        self._session_source = _Source(self.sessions, self._authenticate, read_only=False)
        self._passkey_source = _Source(self.passkeys, self._user_for_passkey, read_only=True)

    @classmethod
    def create(
        cls,
        settings: TrackerSettings,
        database: Database,
        *,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> TrackerContext:
        policy = swarm.SwarmPolicy(
            default_interval=settings.announce_interval,
            grace=settings.peer_grace,
            max_peers=settings.max_peers,
        )
        hasher = password_hasher(settings)
        users.dummy_hash(hasher)  # now, or the first unknown user's login would be slower
        refresh = REFRESH if database.is_shared else SOLE_REFRESH
        stale_limit = 5 * refresh
        return cls(
            settings=settings,
            database=database,
            clock=clock,
            hasher=hasher,
            throttle=LoginThrottle(
                max_per_user=settings.login_max_failures_per_user,
                max_per_ip=settings.login_max_failures_per_ip,
                window=settings.login_window,
                clock=monotonic,
            ),
            signups=SignupThrottle(
                max_per_ip=settings.signup_max_per_address,
                window=settings.signup_window,
                clock=monotonic,
            ),
            policy=policy,
            db_slots=Slots(database_slots(database)),
            hash_slots=Slots(hashing_slots()),
            swarms=SwarmCache(
                database,
                policy,
                clock=clock,
                monotonic=monotonic,
                refresh=refresh,
                stale_limit=stale_limit,
            ),
            sessions=TtlCache(refresh, monotonic=monotonic, stale_limit=stale_limit),
            passkeys=TtlCache(refresh, monotonic=monotonic, stale_limit=stale_limit),
        )

    @property
    def idle_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.session_idle_ttl)

    def cleanup(self) -> None:
        """Drop expired peers and sessions and stale login counters."""
        now = self.clock()
        with self.database.session() as db, db.begin():
            swarm.prune_expired(db, now=now)
            ended = users.expire_sessions(db, now=now, idle_ttl=self.idle_ttl)
        if ended:
            self.sessions.forget(lambda _: True)
            self.swarms.forget_all()
        self.throttle.sweep()
        self.signups.sweep()

    # -- the hot requests: from memory when possible, else one trip to the database ----

    async def caller(self, token: str) -> users.Authenticated:
        """The session of a bearer token (raises NotLoggedIn)."""
        caller = await self._cached(self._session_source, token)
        assert caller is not None  # _authenticate raises instead
        return caller

    def _authenticate(self, token: str) -> users.Authenticated:
        with self.database.session() as db, db.begin():
            return users.authenticate(
                db,
                token,
                now=self.clock(),
                idle_ttl=self.idle_ttl,
                touch_interval=timedelta(seconds=self.settings.session_touch_interval),
            )

    async def user_for_passkey(self, passkey: str) -> str | None:
        return await self._cached(self._passkey_source, passkey)

    async def _cached(self, source: _Source[V], key: str) -> V | None:
        """From the cache (reloaded in the background once past its TTL), else loaded.
        The loader may raise; None means "no such thing" and is not cached."""
        value = self._from_cache(source, key)
        if value is not None:
            return value
        loaded: V | None = await self._db_for(source)(self._load_if_missing, source, key)
        return loaded

    def _load_if_missing(self, source: _Source[V], key: str) -> V | None:
        # Requests that missed together wait for the slot: the first one loads.
        value = source.cache.get(key)
        return self._load(source, key) if value is None else value

    def _from_cache(self, source: _Source[V], key: str) -> V | None:
        value = source.cache.get(key)
        if value is not None and source.cache.claim_refresh(key):
            self._in_background(self._reload(source, key))
        return value

    def cached_caller(self, token: str) -> users.Authenticated | None:
        """From memory only (None: not there); see caller."""
        return self._from_cache(self._session_source, token)

    def cached_user_for_passkey(self, passkey: str) -> str | None:
        """From memory only (None: not there); see user_for_passkey."""
        return self._from_cache(self._passkey_source, passkey)

    def _db_for(self, source: _Source[V]) -> Callable[..., Awaitable[Any]]:
        return self.read_db if source.read_only else self.run_db

    @staticmethod
    def _load(source: _Source[V], key: str) -> V | None:
        """Blocking: ask the database and remember (or forget) the answer; not if the
        cache was told to forget something meanwhile (the answer may predate that)."""
        since = source.cache.generation()
        value = source.load(key)
        if value is None:
            source.cache.discard(key)
        else:
            source.cache.put(key, value, since=since)
        return value

    async def _reload(self, source: _Source[V], key: str) -> None:
        try:
            await self._db_for(source)(self._load, source, key)
        except DomainError:  # the session ended: the next request gets the error
            source.cache.discard(key)
        except SQLAlchemyError:
            log.warning("re-reading a cached answer failed", exc_info=True)

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)  # a reference, so the task is not collected
        task.add_done_callback(self._tasks.discard)

    def _user_for_passkey(self, passkey: str) -> str | None:
        with self.database.read_session() as db, db.begin():
            return users.user_for_passkey(db, passkey)

    async def announce(
        self, user_id: str, ann: swarm.Announce, session_id: int | None
    ) -> swarm.AnnounceResult:
        """Raises the domain errors of swarm.announce."""
        result = self.announce_from_memory(user_id, ann, session_id)
        if result is None:
            result = await self.run_db(self._announce_in_db, user_id, ann, session_id)
        return result

    def _announce_in_db(
        self, user_id: str, ann: swarm.Announce, session_id: int | None
    ) -> swarm.AnnounceResult:
        # Another request may have reloaded the swarm while this one waited for the slot.
        answer = self.swarms.answer(user_id, ann, session_id)
        return answer or self.swarms.announce_in_db(user_id, ann, session_id)

    def announce_from_memory(
        self, user_id: str, ann: swarm.Announce, session_id: int | None
    ) -> swarm.AnnounceResult | None:
        """The answer from the swarm cache, or None: then `announce` asks the database."""
        result = self.swarms.answer(user_id, ann, session_id)
        if result is not None and self.swarms.claim_refresh(ann.info_hash):
            self._in_background(self._refresh_swarm(ann.info_hash))
        return result

    async def _refresh_swarm(self, info_hash: str) -> None:
        try:
            await self.read_db(self.swarms.refresh, info_hash)
        except SQLAlchemyError:
            log.warning("re-reading a swarm failed; will retry", exc_info=True)

    async def flush_announces(self) -> None:
        await self.run_db(self.swarms.flush)

    # -- accounts: argon2 off the loop and outside any database slot ----------------

    async def hashing(self, work: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Blocking password work (argon2, tens of milliseconds): in a worker thread,
        with a hashing slot and no database slot, so other requests go on meanwhile."""
        async with self.hash_slots:
            return await anyio.to_thread.run_sync(functools.partial(work, *args, **kwargs))

    async def reading(self, work: Callable[..., R], *args: Any) -> R:
        """work(db, *args) in a read-only transaction (see read_db)."""
        return await self.read_db(self._read_transaction, work, *args)

    async def writing(self, work: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """work(db, *args, **kwargs) in a transaction of its own (see run_db)."""
        return await self.run_db(functools.partial(self._write_transaction, work, *args, **kwargs))

    def _read_transaction(self, work: Callable[..., R], *args: Any) -> R:
        with self.database.read_session() as db, db.begin():
            return work(db, *args)

    def _write_transaction(self, work: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        with self.database.session() as db, db.begin():
            return work(db, *args, **kwargs)

    async def read_db(self, work: Callable[..., R], *args: Any) -> R:
        """A pure read: with SQLite at once on the event loop, without a slot (in WAL
        mode a reader never waits for a writer); else as run_db."""
        if self.database.runs_on_event_loop:
            return work(*args)
        return await self.run_db(work, *args)

    async def run_db(self, work: Callable[..., R], *args: Any) -> R:
        """Blocking database work, with a database slot like a request's transaction
        (api/deps.db_endpoint): on the event loop with SQLite, else in a worker thread.

        The slot first: without one, with SQLite, a request's BEGIN IMMEDIATE that met
        another transaction's write lock waited in SQLite's busy handler on the event
        loop, stalling every request. Waiting for the slot costs the loop nothing. Then,
        with SQLite, no thread: the work takes microseconds, and a worker thread holding
        the GIL kept the loop waiting for it (the loop ran 87-93 % of the time under the
        load test although requests queued). The slots belong to the loop that serves the
        app, as uvicorn runs it: lifespan and requests."""
        async with self.db_slots:
            if self.database.runs_on_event_loop:
                return work(*args)
            return await anyio.to_thread.run_sync(work, *args)
