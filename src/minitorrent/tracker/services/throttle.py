"""Throttling in memory: failed logins per user id and per address, new accounts per
address.

In memory on purpose: it only has to slow guessing down, and a restart forgetting
the counters costs an attacker at most one more window.

An address is often many people (a lab or a class behind one NAT), so what an address
may do is set far above what one person's typos reach; a user id's own counter is what
stops guessing at one account. A failure for an id that does not exist counts for that
id and for the address, never for another user.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from minitorrent.tracker.services.addresses import parse_ip
from minitorrent.tracker.services.errors import Invalid, TooManyAttempts

# An IPv6 host is handed a whole /64 and may use any address in it.
_IPV6_HOST_PREFIX = 64


def address_key(ip: str | None) -> str | None:
    """What counts as one address: an IPv4 address, or an IPv6 /64."""
    if ip is None:
        return None
    try:
        address = parse_ip(ip)  # IPv4-mapped IPv6 counts as its IPv4 address
    except Invalid:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, _IPV6_HOST_PREFIX), strict=False))
    return str(address)


class EventWindow:
    """How many events each key had in the last `window` seconds, against a limit per
    kind of key. Thread-safe: logins check passwords in worker threads."""

    def __init__(
        self,
        limits: dict[str, int],
        *,
        window: float,
        what: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = limits
        self._window = window
        self._what = what  # "too many <what>; try again in N s"
        self._clock = clock
        self._events: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, keys: list[tuple[str, str]]) -> None:
        """Raise TooManyAttempts while any key's counter is full."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self._limits[key[0]]:
                    wait = max(wait, times[0] + self._window - now)
        if wait > 0:
            raise TooManyAttempts(max(1, math.ceil(wait)), self._what)

    def add(self, keys: list[tuple[str, str]]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._events.setdefault(key, deque()).append(now)

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._events.pop(key, None)

    def sweep(self) -> None:
        """Forget counters with no event left in the window (keeps memory bounded)."""
        now = self._clock()
        with self._lock:
            for key in list(self._events):
                self._recent(key, now)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float] | None:
        times = self._events.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._events[key]
            return None
        return times


class LoginThrottle:
    """Failed logins: a user id's own failures lock that id; an address is refused only
    after far more failures than a room full of typing mistakes."""

    def __init__(
        self,
        *,
        max_per_user: int = 5,
        max_per_ip: int = 300,
        window: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failures = EventWindow(
            {"user": max_per_user, "ip": max_per_ip},
            window=window,
            what="failed logins",
            clock=clock,
        )

    def check(self, user_id: str, ip: str | None) -> None:
        """Raise TooManyAttempts while either counter is full."""
        self._failures.check(self._keys(user_id, ip))

    def failed(self, user_id: str, ip: str | None) -> None:
        self._failures.add(self._keys(user_id, ip))

    def succeeded(self, user_id: str) -> None:
        self._failures.clear(("user", user_id))

    def sweep(self) -> None:
        self._failures.sweep()

    @staticmethod
    def _keys(user_id: str, ip: str | None) -> list[tuple[str, str]]:
        address = address_key(ip)
        return [("user", user_id)] + ([("ip", address)] if address else [])


class SignupThrottle:
    """New accounts per address: each costs an argon2 hash and a row for good."""

    def __init__(
        self, *, max_per_ip: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._signups = EventWindow(
            {"ip": max_per_ip}, window=window, what="new accounts from this address", clock=clock
        )

    def claim(self, ip: str | None) -> None:
        """Count one account creation from `ip`, or raise TooManyAttempts."""
        address = address_key(ip)
        if address is None:
            return
        keys: list[tuple[str, str]] = [("ip", address)]
        self._signups.check(keys)
        self._signups.add(keys)

    def sweep(self) -> None:
        self._signups.sweep()
