"""Request bodies are refused with 413 before they are buffered.

Starlette reads a whole body into memory before the route sees it: a 150 MB JSON body,
before any login, took the tracker from 92 to 555 MB. This ASGI middleware, outermost,
refuses a declared Content-Length above the route's limit before reading a byte (a
client waiting on "Expect: 100-continue" never sends it), and counts the bytes of a
body without one (chunked) as they arrive, answering 413 as soon as they pass the
limit. Either way the connection is closed: the rest of the body is not read.

Each route has the default limit unless it is given another (app.py): only file
registration, whose info dictionary may be large, and the batch announce are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.api.errors import error_response

DEFAULT_LIMIT = 64 * 1024  # every other request body is a few hundred bytes


@dataclass(frozen=True)
class RouteLimit:
    method: str
    path: re.Pattern[str]
    limit: int

    @classmethod
    def of(cls, method: str, template: str, limit: int) -> RouteLimit:
        """`template` is the route's path as declared ("/groups/{group_id}/files")."""
        return cls(method, compile_path(template)[0], limit)


class BodyLimit:
    def __init__(
        self, app: ASGIApp, *, routes: Sequence[RouteLimit], default: int = DEFAULT_LIMIT
    ) -> None:
        self.app = app
        self.routes = routes
        self.default = default

    def limit_for(self, method: str, path: str) -> int:
        for route in self.routes:
            if route.method == method and route.path.match(path):
                return route.limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(limit, scope, receive, send)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _refuse(limit, scope, receive, send)
            if refused:  # the app stops reading; its answer goes nowhere (below)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # uvicorn's parser refuses it before we are called
    return None


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        413,
        ErrorCode.BODY_TOO_LARGE,
        f"request body larger than {limit} bytes",
        headers={"Connection": "close"},  # the rest of the body is not read
    )
    await response(scope, receive, send)
