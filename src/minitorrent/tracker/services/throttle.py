"""Login throttling: too many recent failures for one user or one address refuse logins.

In memory on purpose: it only has to slow guessing down, and a restart forgetting
the counters costs an attacker at most one more window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from minitorrent.tracker.services.errors import TooManyAttempts


class LoginThrottle:
    def __init__(
        self,
        *,
        max_per_user: int = 5,
        max_per_ip: int = 20,
        window: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"user": max_per_user, "ip": max_per_ip}
        self._window = window
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()  # requests run on a thread pool

    def check(self, user_id: str, ip: str | None) -> None:
        """Raise TooManyAttempts while either counter is full."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(user_id, ip):
                times = self._recent(key, now)
                if times is not None and len(times) >= self._limits[key[0]]:
                    wait = max(wait, times[0] + self._window - now)
        if wait > 0:
            raise TooManyAttempts(max(1, math.ceil(wait)))

    def failed(self, user_id: str, ip: str | None) -> None:
        now = self._clock()
        with self._lock:
            for key in self._keys(user_id, ip):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, user_id: str) -> None:
        with self._lock:
            self._failures.pop(("user", user_id), None)

    def sweep(self) -> None:
        """Forget counters with no failure left in the window (keeps memory bounded)."""
        now = self._clock()
        with self._lock:
            for key in list(self._failures):
                self._recent(key, now)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    @staticmethod
    def _keys(user_id: str, ip: str | None) -> list[tuple[str, str]]:
        return [("user", user_id)] + ([("ip", ip)] if ip else [])
