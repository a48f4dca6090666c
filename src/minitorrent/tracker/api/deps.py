"""Dependencies shared by the routers: the context, a database session, the caller."""

from __future__ import annotations

from collections.abc import Iterator
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


def get_db(context: Context) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    with context.database.session() as db, db.begin():
        yield db


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
