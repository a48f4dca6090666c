"""Dependencies shared by the routers: the context, a database session, the caller."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.services import users
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
    """The socket's peer address (server.py ignores X-Forwarded-For): what throttles
    count and what an announced address is checked against (services/addresses.py)."""
    return request.client.host if request.client else None


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One transaction per request, committed before the response is sent; for a `def`
    endpoint with `db: DB` not wrapped by db_endpoint (FastAPI runs it in a worker
    thread). The API's endpoints use db_endpoint, which opens the same transaction
    itself; the password endpoints hash outside any transaction (TrackerContext.hashing).
    Both wait for a database slot first, without holding a thread (tracker/dbwork.py).

    Not for endpoints with `caller: Caller`: loading a session not cached yet takes a
    slot too, and with SQLite's single slot a request already holding it would wait for
    itself."""
    async with context_of(request).work.held_transaction() as db:
        yield db


R = TypeVar("R")


def db_endpoint(endpoint: Callable[..., R]) -> Callable[..., Awaitable[R]]:
    """For a sync endpoint with a `db: DB` parameter: FastAPI calls the wrapper, which
    opens the request's transaction itself (DatabaseWork.in_transaction: slot, session,
    the endpoint where database work runs, commit) and passes it as `db`; and the
    context as `context` if the endpoint has that parameter (one dependency less for
    FastAPI to resolve), and the request as `request` if it has that one.

    Not a yield dependency: FastAPI's machinery around one (an exit stack, a shielded
    async context manager) cost more than the queries of most requests. And since the
    other dependencies (the caller) are resolved before the wrapper runs, no request
    can hold the slot while it waits for one (see get_db). Not for endpoints that hash
    passwords: argon2 takes tens of milliseconds, and with the slot held every other
    request would wait for it (api/users.py, api/sessions.py hash between transactions
    instead)."""
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
        return await context.work.in_transaction(endpoint, **kwargs)

    run.__signature__ = signature.replace(parameters=[request, *parameters])  # type: ignore[attr-defined]
    return run


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
