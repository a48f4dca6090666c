"""A small thread-safe map of answers the database gave a moment ago."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


@dataclass
class _Entry(Generic[V]):
    value: V
    fresh_until: float
    usable_until: float
    refreshing: bool = False


class TtlCache(Generic[K, V]):
    """Entries are fresh for `ttl` seconds and usable for `stale_limit`: past `ttl`,
    `get_claiming` says (once) that it is time to reload one while it keeps answering,
    so requests never queue behind the reload. At `max_entries` the unusable entries
    are dropped, and if that is not enough, all of them: memory stays bounded whatever
    keys arrive."""

    def __init__(
        self,
        ttl: float,
        *,
        monotonic: Callable[[], float],
        stale_limit: float | None = None,
        max_entries: int = 100_000,
    ) -> None:
        self._ttl = ttl
        self._stale_limit = max(ttl, stale_limit if stale_limit is not None else ttl)
        self._monotonic = monotonic
        self._max = max_entries
        self._entries: dict[K, _Entry[V]] = {}
        self._lock = threading.Lock()
        self._invalidations = 0  # calls of `forget` so far (see `generation`)

    def get(self, key: K) -> V | None:
        return self.get_claiming(key, claim=False)[0]

    def get_claiming(self, key: K, *, claim: bool = True) -> tuple[V | None, bool]:
        """`get`, and (unless `claim` is False) True once for an entry past its `ttl`:
        the caller reloads it and calls put. One lock and one clock read: every
        announce asks."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, False
            now = self._monotonic()
            if entry.usable_until <= now:
                del self._entries[key]
                return None, False
            if not claim or entry.refreshing or entry.fresh_until > now:
                return entry.value, False
            entry.refreshing = True
            return entry.value, True

    def generation(self) -> int:
        """Take before reading what you will `put`: a put given an older generation is
        ignored, since a `forget` happened while you read (with worker threads, a read
        that began before a logout could otherwise bring its session back)."""
        with self._lock:
            return self._invalidations

    def put(self, key: K, value: V, *, since: int | None = None) -> None:
        """Remember `value`; unless an invalidation came after generation `since`."""
        now = self._monotonic()
        with self._lock:
            if since is not None and since != self._invalidations:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.refreshing = False  # what survived the forget may reload again
                return
            if len(self._entries) >= self._max:
                self._entries = {k: e for k, e in self._entries.items() if e.usable_until > now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[key] = _Entry(value, now + self._ttl, now + self._stale_limit)

    def discard(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget(self, matches: Callable[[V], bool]) -> None:
        """Drop every entry whose value matches."""
        with self._lock:
            self._invalidations += 1
            self._entries = {k: e for k, e in self._entries.items() if not matches(e.value)}
