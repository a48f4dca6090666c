"""The tracker's HTTP protocol: BitTorrent announce connections answered without ASGI.

BitTorrent clients keep a connection for nothing but GET /announce/<passkey> and
/scrape/<passkey>. Going through uvicorn's request cycle and the ASGI middleware stack
cost more than the announce itself: uvicorn serving a raw-ASGI hello world here peaks
at ~29k answers/s with a p99 of 37 ms under wrk (100 connections), a plain
asyncio.Protocol at ~100k/s with 6 ms. So this protocol (uvicorn's `http=` class)
reads each request head itself (http_requests.py, with httptools); as long as they are
plain GETs of those two paths it answers them (announce.answer, the same code as the
ASGI route). At the first other request it hands the connection, with that request's
bytes, to uvicorn's own protocol (uvicorn_handover.py), which then serves it as if it
had had it from the start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from minitorrent.tracker import announce
from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.http_requests import HAND_OVER, Request, RequestReader
from minitorrent.tracker.uvicorn_handover import UvicornSide

log = logging.getLogger(__name__)

# Heads longer than http_guard.MAX_HEAD go to uvicorn's protocol, which refuses them. A
# head not complete within request_head_timeout closes the connection (_idle_check);
# request bodies are always uvicorn's, under the same limits as any other request.


def _response(body: bytes, *, close: bool) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n" % len(body)
    return head + (b"connection: close\r\n\r\n" if close else b"\r\n") + body


class TrackerHttpProtocol(asyncio.Protocol):
    """uvicorn makes one per connection with the arguments of its own protocols; bind
    `context` first (functools.partial, see server.py)."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        context: TrackerContext,
    ) -> None:
        self._uvicorn = UvicornSide(config, server_state, app_state, _loop)
        self._context = context
        self._idle_timeout = self._uvicorn.keep_alive_timeout
        self._loop = self._uvicorn.loop
        self._transport: asyncio.Transport | None = None
        self._client: str | None = None
        self._reader = RequestReader()
        self._busy = False  # an answer is being computed; later requests wait
        self._closing = False
        self._inner: asyncio.Protocol | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None  # a reference keeps it alive
        self._last_request = self._loop.time()
        self._head_since = 0.0
        self._head_timeout = context.settings.request_head_timeout

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if isinstance(peer, tuple) else None
        self._uvicorn.register(self)
        self._arm_idle_timer(min(self._idle_timeout, self._head_timeout))

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
            return
        if not self._reader.pending:
            self._head_since = self._loop.time()  # a head begins: request_head_timeout
        self._reader.feed(data)
        self._serve_buffered()

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            return self._inner.eof_received()
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._uvicorn.unregister(self)
        self._cancel_idle_timer()
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # -- uvicorn's server ---------------------------------------------------------------

    def shutdown(self) -> None:
        """Graceful shutdown: close now if idle, else after the answer in progress."""
        self._closing = True
        if not self._busy and self._transport is not None:
            self._transport.close()

    # -- serving ------------------------------------------------------------------------

    def _serve_buffered(self) -> None:
        """Answer complete requests in order, one at a time (pipelining keeps order)."""
        assert self._transport is not None
        while not self._busy and self._inner is None and not self._transport.is_closing():
            request = self._reader.next_request()
            if not isinstance(request, Request):  # an incomplete head, or uvicorn's
                if request is HAND_OVER:
                    self._hand_over()
                return
            self._last_request = self._loop.time()
            if request.prefix == "/announce/":
                body = announce.announce_now(
                    self._context, request.passkey, request.query, self._client
                )
                if body is not None:  # no task, no await: nearly every re-announce
                    self._respond(body, request.close)
                    if not self._reader.pending:
                        return  # one request per read: the usual case
                    continue
            self._busy = True
            self._task = self._loop.create_task(self._answer(request))

    async def _answer(self, request: Request) -> None:
        handler = announce.HANDLERS[request.prefix]
        try:
            body = await announce.answer(
                handler, self._context, request.passkey, request.query, self._client
            )
        except Exception:  # a bug: the client gets an answer, the log gets the trace
            log.exception("unexpected error in a BitTorrent request")
            body = announce.failure("internal tracker error")
        self._busy = False
        self._respond(body, request.close)
        if self._reader.pending:
            self._serve_buffered()

    def _respond(self, body: bytes, close: bool) -> None:
        assert self._transport is not None
        close = close or self._closing
        self._transport.write(_response(body, close=close))
        if close:
            self._transport.close()

    def _hand_over(self) -> None:
        """From now on uvicorn's own protocol serves this connection."""
        assert self._transport is not None
        self._cancel_idle_timer()
        data, self._reader.pending = bytes(self._reader.pending), bytearray()
        self._inner = self._uvicorn.hand_over(self, self._transport, data, self._context.settings)

    def _arm_idle_timer(self, delay: float | None = None) -> None:
        self._idle = self._loop.call_later(
            self._idle_timeout if delay is None else delay, self._idle_check
        )

    def _cancel_idle_timer(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_check(self) -> None:
        """Close a connection idle for the keep-alive timeout, or whose request head is
        not complete within request_head_timeout (http_guard.py has the same rule for
        uvicorn's protocol). One timer per connection,
        moved on when it fires: re-arming it per request cost 2.5 % of an announce."""
        if self._transport is None or self._inner is not None:
            return
        now = self._loop.time()
        left = self._last_request + self._idle_timeout - now
        if self._reader.pending and not self._busy:  # a head in progress: it has its own limit
            left = self._head_since + self._head_timeout - now
        if self._busy or left > 0:
            # Back at least every head timeout: a head may begin at any time.
            self._arm_idle_timer(max(min(left, self._head_timeout), 0.1))
        else:
            self._transport.close()
