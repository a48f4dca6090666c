"""JSON announces that memory can answer, answered before FastAPI's routing.

POST /api/v1/announce is about half of what a busy tracker serves. Through FastAPI's
route matching, dependencies and response validation one cost about 1 ms of CPU here,
of which the answer itself (AnnounceRegistry.from_memory) took a tenth. This ASGI
middleware answers the announces memory can answer: a body that validates, a bearer
token whose session is cached, a peer the swarm cache knows. Everything else (a bad
body, an unknown token, a peer the database must see, any error) goes on to the FastAPI
route with the body replayed, so every rule and every error answer has one
implementation: the route's.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minitorrent.tracker.api.swarm import AnnounceIn, announce_out
from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.services.errors import DomainError

MAX_BODY = 16 * 1024  # an announce is ~300 bytes; anything bigger is the route's to judge


class AnnounceShortcut:
    """`path`: where the JSON announce route is mounted."""

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        first = await receive()
        body = first.get("body", b"") if first["type"] == "http.request" else b""
        answer = None
        if first["type"] == "http.request" and not first.get("more_body", False):
            client = scope.get("client")
            source = client[0] if client else None
            answer = _from_memory(scope["app"].state.context, _bearer_token(scope), body, source)
        if answer is None:
            await self.app(scope, _replaying(first, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token if scheme.lower() == "bearer" and token else None
    return None


def _from_memory(
    context: TrackerContext, token: str | None, body: bytes, source: str | None
) -> bytes | None:
    """The answer's JSON, or None: then the route answers."""
    if token is None or len(body) > MAX_BODY:
        return None
    caller = context.cached_caller(token)
    if caller is None:
        return None
    try:
        announce = AnnounceIn.model_validate_json(body).to_announce(source)
        result = context.announces.from_memory(caller.user_id, announce, caller.session_id)
    except (ValidationError, DomainError):
        return None
    return None if result is None else announce_out(result).model_dump_json().encode()


def _replaying(first: Message, receive: Receive) -> Receive:
    """`receive` with the message already taken put back in front."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
