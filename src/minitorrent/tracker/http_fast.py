"""The tracker's HTTP protocol: BitTorrent announce connections answered without ASGI.

BitTorrent clients keep a connection for nothing but GET /announce/<passkey> and
/scrape/<passkey>. Going through uvicorn's request cycle and the ASGI middleware stack
cost more than the announce itself: uvicorn serving a raw-ASGI hello world here peaks
at ~29k answers/s with a p99 of 37 ms under wrk (100 connections), a plain
asyncio.Protocol at ~100k/s with 6 ms. So this protocol (uvicorn's `http=` class)
reads each request head itself; as long as they are plain GETs of those two paths it
answers them (announce.answer, the same code as the ASGI route). At the first other
request it hands the connection, with that request's bytes, to uvicorn's own protocol,
which then serves it as if it had had it from the start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from minitorrent.tracker import announce
from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.http_guard import MAX_HEAD, GuardedHttpToolsProtocol

log = logging.getLogger(__name__)

# Longer heads go to uvicorn's protocol (http_guard.py), which refuses them. A head not
# complete within the keep-alive timeout closes the connection (_idle_check); request
# bodies are always uvicorn's, under the same limits as any other request.
_PREFIXES = (b"/announce/", b"/scrape/")
# A request with a body or an unusual framing is uvicorn's to handle.
_HANDED_OVER_HEADERS = (b"content-length:", b"transfer-encoding:", b"expect:", b"upgrade:")


def _response(body: bytes, *, close: bool) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n" % len(body)
    return head + (b"connection: close\r\n\r\n" if close else b"\r\n") + body


class _Request:
    __slots__ = ("close", "passkey", "prefix", "query")

    def __init__(self, prefix: str, passkey: str, query: bytes, close: bool):
        self.prefix, self.passkey, self.query, self.close = prefix, passkey, query, close


def _parse_head(head: bytes) -> _Request | None:
    """A GET of /announce/<passkey> or /scrape/<passkey> we can answer, else None.
    `head` ends with the blank line."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        return None
    path, _, query = parts[1].partition(b"?")
    prefix = next((p for p in _PREFIXES if path.startswith(p)), None)
    if prefix is None:
        return None
    passkey = path[len(prefix) :]
    if not passkey or not passkey.isalnum() or not passkey.isascii():
        return None  # '/', '%' or anything odder: uvicorn decodes and routes it
    close = parts[2] == b"HTTP/1.0"
    for line in lines[1:]:
        lower = line.lower()
        if lower.startswith(_HANDED_OVER_HEADERS):
            return None
        if lower.startswith(b"connection:"):
            value = lower[len(b"connection:") :].strip()
            close = value == b"close" or (close and value != b"keep-alive")
    return _Request(prefix.decode(), passkey.decode(), query, close)


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
        self._uvicorn_args = (config, server_state, app_state, _loop)
        self._context = context
        self._connections: set[Any] = server_state.connections
        self._idle_timeout: float = config.timeout_keep_alive
        self._loop = _loop or asyncio.get_event_loop()
        self._transport: asyncio.Transport | None = None
        self._client: str | None = None
        self._buffer = bytearray()
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
        self._connections.add(self)
        self._arm_idle_timer(min(self._idle_timeout, self._head_timeout))

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
            return
        if not self._buffer:
            self._head_since = self._loop.time()  # a head begins: request_head_timeout
        self._buffer += data
        self._serve_buffered()

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            return self._inner.eof_received()
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
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
            end = self._buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    self._hand_over()
                return
            request = _parse_head(bytes(self._buffer[: end + 4]))
            if request is None:
                self._hand_over()
                return
            del self._buffer[: end + 4]
            self._last_request = self._loop.time()
            if request.prefix == "/announce/":
                body = announce.announce_now(
                    self._context, request.passkey, request.query, self._client
                )
                if body is not None:  # no task, no await: nearly every re-announce
                    self._respond(body, request.close)
                    continue
            self._busy = True
            self._task = self._loop.create_task(self._answer(request))

    async def _answer(self, request: _Request) -> None:
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
        if self._buffer:
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
        self._connections.discard(self)  # uvicorn's protocol registers itself
        config, server_state, app_state, loop = self._uvicorn_args
        inner = GuardedHttpToolsProtocol(
            config, server_state, app_state, loop, settings=self._context.settings
        )
        self._inner = inner
        inner.connection_made(self._transport)
        self._transport.set_protocol(inner)
        data, self._buffer = bytes(self._buffer), bytearray()
        inner.data_received(data)

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
        if self._buffer and not self._busy:  # a head in progress: it has its own limit
            left = self._head_since + self._head_timeout - now
        if self._busy or left > 0:
            # Back at least every head timeout: a head may begin at any time.
            self._arm_idle_timer(max(min(left, self._head_timeout), 0.1))
        else:
            self._transport.close()
