"""Dependencies shared by the routers: the context, a database session, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.services import users
from minitorrent.tracker.services.errors import not_logged_in


def get_context(request: Request) -> TrackerContext:
    context: TrackerContext = request.app.state.context
    return context


Context = Annotated[TrackerContext, Depends(get_context)]


async def db_slot(context: Context) -> AsyncIterator[None]:
    """Wait, without holding a worker thread, for the right to open a transaction.

    A request's transaction spans several worker-thread calls (the caller check, the
    endpoint, the commit). Before this gate, under load every worker thread ended up
    blocked on SQLite's write lock (or on the connection pool) while the request holding
    it waited for a free thread to commit: a deadlock that only "database is locked"
    errors after busy_timeout broke. Waiting here costs no thread, and it is first come,
    first served instead of SQLite's sleep-and-retry busy handler."""
    async with context.db_slots:
        yield


DBSlot = Annotated[None, Depends(db_slot, scope="function")]


_AFTER_COMMIT = "after_commit"


def get_db(context: Context, _slot: DBSlot) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    with context.database.session() as db:
        with db.begin():
            yield db
        for action in db.info.pop(_AFTER_COMMIT, ()):
            action()


def after_commit(db: Session, action: Callable[[], None]) -> None:
    """Run `action` once the request's transaction has committed (not if it fails)."""
    db.info.setdefault(_AFTER_COMMIT, []).append(action)


# scope="function": commit before the response leaves, so a client that gets an
# answer and asks again at once sees its own change.
DB = Annotated[Session, Depends(get_db, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="the token returned by POST /sessions")


def get_caller(
    context: Context,
    db: DB,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> users.Authenticated:
    if credentials is None:
        raise not_logged_in()
    return users.authenticate(
        db,
        credentials.credentials,
        now=context.clock(),
        idle_ttl=context.idle_ttl,
        touch_interval=timedelta(seconds=context.settings.session_touch_interval),
    )


Caller = Annotated[users.Authenticated, Depends(get_caller)]


async def get_cached_caller(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> users.Authenticated:
    if credentials is None:
        raise not_logged_in()
    return await context.caller(credentials.credentials)


# For the hot routes that hold no transaction of their own (announces): the caller as the
# database knew it less than a second ago (TrackerContext.sessions).
CachedCaller = Annotated[users.Authenticated, Depends(get_cached_caller)]
