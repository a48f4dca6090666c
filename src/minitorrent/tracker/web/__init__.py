"""The web front end on the tracker's own address: server-rendered pages for members
and admins, on the same service rules as the JSON API."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.web import actions, errors, pages
from minitorrent.tracker.web.group_cache import GroupPages
from minitorrent.tracker.web.render import STATIC


def install(app: FastAPI) -> None:
    """After the API's routers and error handlers (errors.install wraps them), and
    app.state.context."""
    context: TrackerContext = app.state.context
    app.state.group_pages = GroupPages(context.work, clock=context.clock, monotonic=time.monotonic)
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app)
