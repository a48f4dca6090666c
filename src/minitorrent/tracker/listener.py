"""The tracker's listening socket: every waiting connection accepted at once.

libuv (uvloop's core) accepts one connection per turn of the event loop since 1.45
("don't accept() connections in a loop"). A tracker's turn answers every connection
with a request waiting, so under load a turn takes as long as a thousand announces: wrk
opening 1,000 connections against the busy tracker saw them accepted one per turn (one
every 70-300 ms), each first request waiting in the kernel's accept queue for up to
10 s (p99 2-7 s), while the loop itself never stalled. Here the loop's reader callback
accepts until the queue is empty (as asyncio's own selector loop does, up to the
backlog), and each connection is then the loop's as if its server had accepted it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable

log = logging.getLogger(__name__)

# accept() failing with these leaves the queue as it is: the socket stays readable, and
# the callback would run every turn. Accepting pauses instead, as in asyncio's own loop.
_RESOURCE_ERRORS = frozenset([errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM])
RETRY_AFTER = 1.0  # seconds


class Listener:
    """What uvicorn's shutdown needs of a server (`close`, `wait_closed`) around a
    listening socket whose connections the loop's reader callback accepts."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        *,
        ssl_context: ssl.SSLContext | None,
        batch: int,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = factory
        self._ssl = ssl_context
        self._batch = batch
        self._pending: set[asyncio.Task[None]] = set()  # references keep them alive
        self._closed = asyncio.Event()
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept_waiting)

    @property
    def sockets(self) -> list[socket.socket]:
        return [self._sock]

    def _accept_waiting(self) -> None:
        for _ in range(self._batch):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty
            except ConnectionAbortedError:
                continue  # that client gave up while queued
            except OSError as exc:
                log.warning("cannot accept connections: %s", exc.strerror)
                if exc.errno in _RESOURCE_ERRORS:
                    self._pause()
                return
            self._start(conn)

    def _pause(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._loop.call_later(RETRY_AFTER, self._resume)

    def _resume(self) -> None:
        if not self._closed.is_set():
            self._loop.add_reader(self._sock.fileno(), self._accept_waiting)

    def _start(self, conn: socket.socket) -> None:
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            # Small answers, sent at once: Nagle's delay would wait for the client's ACK.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = self._loop.create_task(self._connect(conn))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn, ssl=self._ssl)
        except (OSError, ssl.SSLError) as exc:  # a failed TLS handshake, a reset: theirs
            # The transport closed the socket already (or owns it): not closed twice here.
            log.debug("connection dropped while being set up: %s", exc)

    def close(self) -> None:
        """Stop accepting; connections already accepted stay (uvicorn shuts them down)."""
        if not self._closed.is_set():
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()
