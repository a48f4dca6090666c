"""Where the tracker's database work runs, and the transactions it runs in: one place.

With SQLite the event loop runs it itself: a transaction costs microseconds; in WAL mode
a read never waits for a lock, and every writer takes the single database slot first,
so none waits for another's lock. A worker thread, contending for the GIL with a
saturated loop, made the same read take seconds (W4, 1,000 connections). With another
database the work runs in a worker thread, holding one of as many slots as the pool has
connections, so no thread waits for a connection while it holds one.

The slot comes first, before any thread or session: before this gate, under load every
worker thread ended up blocked on SQLite's write lock (or the connection pool) while the
request holding it waited for a free thread to commit, a deadlock that only "database is
locked" errors after busy_timeout broke. Waiting for a slot costs the loop nothing, and
it is first come, first served instead of SQLite's sleep-and-retry busy handler.

What a transaction ended (services/changes.py) reaches the caches after its commit
through the database's own hook (db.Database.on_commit), whoever opened it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import anyio
from sqlalchemy.orm import Session

from minitorrent.tracker.db import Database

R = TypeVar("R")


def database_slots(database: Database) -> int:
    """How many transactions may be open at once. SQLite: one, since every transaction
    takes the write lock up front (BEGIN IMMEDIATE). Otherwise the connection pool's
    size."""
    if database.engine.dialect.name == "sqlite":
        return 1
    size = getattr(database.engine.pool, "size", None)
    return max(1, int(size())) if callable(size) else 8


class DatabaseWork:
    """The slots belong to the one event loop that serves the app, as uvicorn runs it:
    lifespan and requests (the tests keep to one loop per app too)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.slots = asyncio.Semaphore(database_slots(database))
        self.on_loop = database.runs_on_event_loop

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """Blocking: a session in a transaction, committed on leaving."""
        with self.database.session() as db, db.begin():
            yield db

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[Session]:
        """Blocking: a read-only one (with SQLite it takes no write lock)."""
        with self.database.read_session() as db, db.begin():
            yield db

    async def run(self, work: Callable[..., R], *args: Any) -> R:
        """Blocking database work with a slot: on the event loop with SQLite (the work
        takes microseconds, and a worker thread holding the GIL kept the loop waiting:
        the loop ran 87-93 % of the time under the load test although requests
        queued), else in a worker thread."""
        async with self.slots:
            if self.on_loop:
                return work(*args)
            return await anyio.to_thread.run_sync(work, *args)

    async def read(self, work: Callable[..., R], *args: Any) -> R:
        """A pure read: with SQLite at once on the event loop, without a slot (in WAL
        mode a reader never waits for a writer); else as `run`."""
        if self.on_loop:
            return work(*args)
        return await self.run(work, *args)

    @contextlib.asynccontextmanager
    async def held_transaction(self) -> AsyncIterator[Session]:
        """A slot, then a transaction opened and committed on the event loop (nothing
        waits there: the slot is held); for work that runs in a thread of its own."""
        async with self.slots:
            with self.transaction() as db:
                yield db

    async def in_transaction(self, work: Callable[..., R], **kwargs: Any) -> R:
        """`work(db=..., **kwargs)` in a transaction, with a slot, where `run` would run
        it. The transaction opens and commits on the loop; with SQLite the thread
        hand-off around the work cost more than its queries, and it was paid with the
        slot held (serial GET /me 510 -> 610 requests/s)."""
        async with self.held_transaction() as db:
            if self.on_loop:
                return work(db=db, **kwargs)
            return await anyio.to_thread.run_sync(functools.partial(work, db=db, **kwargs))

    async def reading(self, work: Callable[..., R], *args: Any) -> R:
        """`work(db, *args)` in a read-only transaction of its own, where `read` runs it."""
        return await self.read(self._in_read_transaction, work, *args)

    def _in_read_transaction(self, work: Callable[..., R], *args: Any) -> R:
        with self.read_transaction() as db:
            return work(db, *args)

    async def writing(self, work: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """`work(db, *args, **kwargs)` in a transaction of its own, as `in_transaction`
        runs it (for services whose session comes first, positionally)."""

        def in_db(db: Session) -> R:
            return work(db, *args, **kwargs)

        return await self.in_transaction(in_db)
