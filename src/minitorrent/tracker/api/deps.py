"""Dependencies shared by the routers: the context, a database session, the caller."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.services import files, users
from minitorrent.tracker.services.errors import not_logged_in


def context_of(request: Request) -> TrackerContext:
    context: TrackerContext = request.app.state.context
    return context


async def get_context(request: Request) -> TrackerContext:
    # async: FastAPI runs a plain `def` dependency in a worker thread, and every thread
    # hand-off costs about half a millisecond of waiting here.
    return context_of(request)


Context = Annotated[TrackerContext, Depends(get_context)]


def client_ip(request: Request) -> str | None:
    """The socket's peer address (server.py ignores X-Forwarded-For): what throttles count."""
    return request.client.host if request.client else None


_AFTER_COMMIT = "after_commit"


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One transaction per request, committed before the response is sent; for a `def`
    endpoint with `db: DB` not wrapped by db_endpoint (FastAPI runs it in a worker
    thread). The API's endpoints use db_endpoint, which opens the same transaction
    itself; the password endpoints hash outside any transaction (TrackerContext.hashing).

    First it waits, without holding a worker thread, for the right to open a transaction
    (context.db_slots). Before this gate, under load every worker thread ended up blocked
    on SQLite's write lock (or on the connection pool) while the request holding it
    waited for a free thread to commit: a deadlock that only "database is locked" errors
    after busy_timeout broke. Waiting here costs no thread, and it is first come, first
    served instead of SQLite's sleep-and-retry busy handler. The session opens and
    commits on the event loop: nothing waits there, the slot is held.

    Not for endpoints with `caller: Caller`: loading a session not cached yet takes a
    slot too, and with SQLite's single slot a request already holding it would wait for
    itself."""
    context = context_of(request)
    async with context.db_slots:
        with _transaction(context) as db:
            yield db


@contextlib.contextmanager
def _transaction(context: TrackerContext) -> Iterator[Session]:
    """The request's session in a transaction, then its after_commit actions; the caller
    holds a database slot."""
    with context.database.session() as db:
        with db.begin():
            yield db
        for action in db.info.pop(_AFTER_COMMIT, ()):
            action()


R = TypeVar("R")


def db_endpoint(endpoint: Callable[..., R]) -> Callable[..., Awaitable[R]]:
    """For a sync endpoint with a `db: DB` parameter: FastAPI calls the wrapper, which
    opens the request's transaction itself (as get_db does: slot, session, commit, then
    the after_commit actions) and passes it as `db`; and the context as `context` if
    the endpoint has that parameter (one dependency less for FastAPI to resolve), and
    the request as `request` if it has that one.

    Not a yield dependency: FastAPI's machinery around one (an exit stack, a shielded
    async context manager) cost more than the queries of most requests. And since the
    other dependencies (the caller) are resolved before the wrapper runs, no request
    can hold the slot while it waits for one (see get_db).

    The endpoint runs on the event loop when the database is SQLite, else in a worker
    thread (FastAPI's way for a `def` endpoint). SQLite answers in microseconds and,
    with the slot held, no other request holds its lock; the thread hand-off around the
    endpoint cost more than its queries, and it was paid with the slot held, which with
    SQLite's single slot set the tracker's pace (serial GET /me 510 -> 610 requests/s).
    Not for endpoints that hash passwords: argon2 takes tens of milliseconds, and with
    the slot held every other request would wait for it (api/users.py, api/sessions.py
    hash between transactions instead)."""
    signature = inspect.signature(endpoint)
    request = inspect.Parameter(
        "db_endpoint_request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
    )
    injected = {"db", "context", "request"}
    parameters = [p for name, p in signature.parameters.items() if name not in injected]
    wants_context = "context" in signature.parameters
    # FastAPI hands the request to one parameter only: the wrapper's, passed on.
    wants_request = "request" in signature.parameters

    @functools.wraps(endpoint)
    async def run(db_endpoint_request: Request, **kwargs: Any) -> R:
        context = context_of(db_endpoint_request)
        if wants_context:
            kwargs["context"] = context
        if wants_request:
            kwargs["request"] = db_endpoint_request
        async with context.db_slots:
            with _transaction(context) as db:
                if context.database.runs_on_event_loop:
                    return endpoint(db=db, **kwargs)
                return await run_in_threadpool(endpoint, db=db, **kwargs)

    run.__signature__ = signature.replace(parameters=[request, *parameters])  # type: ignore[attr-defined]
    return run


def after_commit(db: Session, action: Callable[[], None]) -> None:
    """Run `action` once the request's transaction has committed (not if it fails)."""
    db.info.setdefault(_AFTER_COMMIT, []).append(action)


def forget_member(context: TrackerContext, db: Session, group_id: str, user_id: str) -> None:
    """After a change that ended the user's peers in the group's files (and perhaps the
    files): the swarm cache forgets them once it commits."""
    files_left = set(files.files_of_group(db, group_id))
    after_commit(db, lambda: context.swarms.forget_member(group_id, user_id, files_left=files_left))


# scope="function": commit before the response leaves, so a client that gets an
# answer and asks again at once sees its own change.
DB = Annotated[Session, Depends(get_db, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="the token returned by POST /sessions")


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> users.Authenticated:
    """The caller as the database knew it less than a second ago (TrackerContext.sessions;
    logout drops its session there at once): no query and no thread per request."""
    if credentials is None:
        raise not_logged_in()
    return await context_of(request).caller(credentials.credentials)


Caller = Annotated[users.Authenticated, Depends(get_caller)]
