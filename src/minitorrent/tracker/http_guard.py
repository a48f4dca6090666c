"""uvicorn's HTTP protocol with limits on slow and oversized request heads and bodies.

uvicorn times out an idle keep-alive connection, but not a request in progress: a
client sending its head a byte at a time (slowloris), or a body that never ends, held a
connection and its buffers forever, and a head's headers were collected without limit.
Here a head must arrive within `request_head_timeout` and be at most MAX_HEAD bytes, and
a body must keep coming at `request_body_min_rate` bytes/s on average once its first
`request_body_grace` seconds are over (while the app is not reading, the client is not
to blame: the clock waits). A request that breaks a rule gets one plain-text answer
(408 or 431) and the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from minitorrent.tracker.settings import TrackerSettings

MAX_HEAD = 16 * 1024  # request line and headers; the API's are a few hundred bytes


class _Refused(Exception):
    """Stops the parser after the answer was written (see send_400_response)."""


_HEAD, _BODY = "head", "body"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """One timer per connection, moved on when it fires, never re-armed per request
    (per request it cost 2.5 % of an announce in http_fast.py): a request's parts only
    note when they began."""

    def __init__(self, *args: Any, settings: TrackerSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settings = settings
        self._timer: asyncio.TimerHandle | None = None
        self._reading: str | None = None  # _HEAD, _BODY or None (between requests)
        self._since = 0.0  # when the head, or the body, began
        self._head_bytes = 0
        self._body_bytes = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._settings.request_head_timeout)

    # -- the parser's callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading, self._since, self._head_bytes = _HEAD, self.loop.time(), 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._reading, self._since, self._body_bytes = _BODY, self.loop.time(), 0

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._reading = None
        super().on_message_complete()

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD:
            self._refuse(431, f"request head larger than {MAX_HEAD} bytes")
            raise _Refused

    # -- the clock -------------------------------------------------------------------

    def _check(self) -> None:
        self._timer = None
        now = self.loop.time()
        settings = self._settings
        if self._reading == _BODY and self.flow.read_paused:
            # The app has not read what came: not the client's fault. A fresh grace.
            self._since = now - self._body_bytes / settings.request_body_min_rate
        if self._reading == _HEAD:
            due, what = self._since + settings.request_head_timeout, "head"
        elif self._reading == _BODY:
            rate = settings.request_body_min_rate
            due = self._since + settings.request_body_grace + self._body_bytes / rate
            what = "body"
        else:  # between requests: uvicorn's keep-alive timeout applies
            due, what = now + settings.request_head_timeout, ""
        if now < due:
            self._arm(due - now)
        else:
            self._refuse(408, f"request {what} not received in time")

    # -- answers ---------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        self._disarm()
        self._refused = True
        if self.transport.is_closing():
            return
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # else our answer is out, and the parser only stopped
            super().send_400_response(msg)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, delay: float) -> None:
        self._timer = self.loop.call_later(max(delay, 0.05), self._check)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
