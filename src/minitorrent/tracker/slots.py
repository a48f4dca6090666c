"""A counting semaphore for coroutines, safe across event loops.

The tracker's database slots (DatabaseWork.slots) are taken by requests and by its
background work (flushing announces, re-reading caches). uvicorn runs all of that on one
event loop, but tests drive one app from several: a TestClient's loop for the lifespan,
`asyncio.run` per request, schemathesis' own loop. An asyncio or anyio semaphore wakes a
waiter of another loop without telling that loop, so a request could wait forever for a
slot released elsewhere. This one hands a slot to the waiter through its own loop
(`call_soon_threadsafe`), first come, first served.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from types import TracebackType


class Slots:
    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self._lock = threading.Lock()
        self._free = count
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    async def __aenter__(self) -> None:
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                queued = (loop, waiter) in self._waiters
                if queued:
                    self._waiters.remove((loop, waiter))
            if not queued:  # it was handed a slot as it was cancelled: pass the slot on
                self.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    @property
    def waiting(self) -> int:
        """How many coroutines wait for a slot now."""
        with self._lock:
            return len(self._waiters)

    def release(self) -> None:
        with self._lock:
            if not self._waiters:
                self._free += 1
                return
            loop, waiter = self._waiters.popleft()
        if loop is _running_loop():
            self._grant(waiter)
        else:
            try:
                loop.call_soon_threadsafe(self._grant, waiter)
            except RuntimeError:  # that loop is closed: its waiter will never run
                self.release()

    @staticmethod
    def _grant(waiter: asyncio.Future[None]) -> None:
        """In the waiter's loop. A waiter cancelled after it left the queue passes the
        slot on itself (__aenter__)."""
        if not waiter.done():
            waiter.set_result(None)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
