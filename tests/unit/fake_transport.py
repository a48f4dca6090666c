"""A TrackerClient transport that answers in-process: failover and answer reading
without sockets (the HTTP client itself is tested against a real server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from minitorrent.peer.http_client import Request, Response
from minitorrent.trackers import TrackerAddress

# What a tracker does with a request (server, method, target): answer, or raise HttpError.
Handler = Callable[[TrackerAddress, str, str], Response]


def json_answer(status: int, body: Any = None) -> Response:
    """An answer with `body` as JSON (no body at all for None)."""
    content = b"" if body is None else json.dumps(body).encode()
    return Response(status, {"content-type": "application/json"}, content)


class FakeTransport:
    def __init__(self, handle: Handler) -> None:
        self.handle = handle

    async def request(self, request: Request) -> Response:
        return self.handle(request.server, request.method, request.target)

    async def aclose(self) -> None:
        pass
