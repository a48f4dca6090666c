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
from minitorrent.tracker.dbwork import DatabaseWork
from minitorrent.tracker.services import changes, swarm, users
from minitorrent.tracker.services.announce import AnnounceRegistry
from minitorrent.tracker.services.clock import Clock, utcnow
from minitorrent.tracker.services.errors import DomainError
from minitorrent.tracker.services.swarm_cache import REFRESH, SOLE_REFRESH, SwarmCache
from minitorrent.tracker.services.throttle import LoginThrottle, SignupThrottle
from minitorrent.tracker.settings import TrackerSettings
from minitorrent.tracker.ttl_cache import TtlCache

log = logging.getLogger(__name__)
R = TypeVar("R")
V = TypeVar("V")


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
    hash_slots: asyncio.Semaphore  # argon2 runs with one of these, never with a database slot
    work: DatabaseWork  # where database work runs, and its transactions
    announces: AnnounceRegistry
    # Answers the database gave less than REFRESH (SOLE_REFRESH) seconds ago, for the hot
    # requests; what a commit ends or changes is dropped at once (_changed).
    sessions: TtlCache[str, users.Authenticated]  # bearer token -> caller
    passkeys: TtlCache[str, str]  # passkey -> user id
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.database.on_commit(self._changed)
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
        work = DatabaseWork(database)
        swarms = SwarmCache(
            work, policy, clock=clock, monotonic=monotonic, refresh=refresh, stale_limit=stale_limit
        )
        tasks: set[asyncio.Task[None]] = set()
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
            hash_slots=asyncio.Semaphore(hashing_slots()),
            work=work,
            announces=AnnounceRegistry(work, swarms, spawn=functools.partial(_spawn, tasks)),
            sessions=TtlCache(refresh, monotonic=monotonic, stale_limit=stale_limit),
            passkeys=TtlCache(refresh, monotonic=monotonic, stale_limit=stale_limit),
            _tasks=tasks,
        )

    @property
    def idle_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.session_idle_ttl)

    def cleanup(self) -> None:
        """Drop expired peers and sessions and stale login counters."""
        now = self.clock()
        with self.work.transaction() as db:
            swarm.prune_expired(db, now=now)
            users.expire_sessions(db, now=now, idle_ttl=self.idle_ttl)
        self.throttle.sweep()
        self.signups.sweep()

    def _changed(self, recorded: list[changes.Change]) -> None:
        """After a commit: forget what it ended (services/changes.py)."""
        ended = {
            session_id
            for change in recorded
            if isinstance(change, changes.SessionsEnded)
            for session_id in change.session_ids
        }
        if ended:
            self.sessions.forget(lambda caller: caller.session_id in ended)
        rotated = {c.user_id for c in recorded if isinstance(c, changes.PasskeyChanged)}
        if rotated:
            self.passkeys.forget(lambda user_id: user_id in rotated)

    # -- the hot requests: from memory when possible, else one trip to the database ----

    async def caller(self, token: str) -> users.Authenticated:
        """The session of a bearer token (raises NotLoggedIn)."""
        caller = await self._cached(self._session_source, token)
        assert caller is not None  # _authenticate raises instead
        return caller

    def _authenticate(self, token: str) -> users.Authenticated:
        with self.work.transaction() as db:
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
        value, due = source.cache.get_claiming(key)
        if due:
            self._in_background(self._reload(source, key))
        return value

    def cached_caller(self, token: str) -> users.Authenticated | None:
        """From memory only (None: not there); see caller."""
        return self._from_cache(self._session_source, token)

    def cached_user_for_passkey(self, passkey: str) -> str | None:
        """From memory only (None: not there); see user_for_passkey."""
        return self._from_cache(self._passkey_source, passkey)

    def _db_for(self, source: _Source[V]) -> Callable[..., Awaitable[Any]]:
        return self.work.read if source.read_only else self.work.run

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
        _spawn(self._tasks, coro)

    def _user_for_passkey(self, passkey: str) -> str | None:
        with self.work.read_transaction() as db:
            return users.user_for_passkey(db, passkey)

    # -- accounts: argon2 off the loop and outside any database slot ----------------

    async def hashing(self, work: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Blocking password work (argon2, tens of milliseconds): in a worker thread,
        with a hashing slot and no database slot, so other requests go on meanwhile;
        its reads and writes are transactions of their own (DatabaseWork.reading and
        writing)."""
        async with self.hash_slots:
            return await anyio.to_thread.run_sync(functools.partial(work, *args, **kwargs))


def _spawn(tasks: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(coro)
    tasks.add(task)  # a reference, so the task is not collected
    task.add_done_callback(tasks.discard)
