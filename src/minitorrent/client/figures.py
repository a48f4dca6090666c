"""Figures as a person reads them: counts with the right plural, speeds that are
averages over the last few seconds, durations, and times relative to now."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

SPEED_WINDOW = 5.0  # seconds a shown speed averages over


def plural(count: int, word: str) -> str:
    """``1 peer``, ``2 peers``, ``0 peers``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``, ``2 h 5 min``: two units at most, rounded up."""
    total = max(math.ceil(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def when(moment: datetime, now: datetime) -> str:
    """A past moment relative to `now` within the hour (``3 min ago``), otherwise the
    local time (``2026-12-07 09:14``). A moment without a zone is UTC (the tracker's)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    age = (now - moment).total_seconds()
    if age < 5:
        return "just now"
    if age < 60:
        return f"{int(age)} s ago"
    if age < 3600:
        return f"{int(age // 60)} min ago"
    return moment.astimezone(now.tzinfo).strftime("%Y-%m-%d %H:%M")


def parse_time(text: str) -> datetime | None:
    """A time from the tracker's JSON (ISO 8601), or None when it is not one."""
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


class Speedometer:
    """Bytes per second over the last `window` seconds of a growing byte count.

    The count is sampled whenever it is seen (each progress report, each look); the
    count at the start of the window is interpolated between the samples around it,
    so the figure is the bytes that really arrived in the window, divided by it, and
    0 once nothing has arrived for a whole window."""

    def __init__(
        self, window: float = SPEED_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.clock = clock
        self._samples: deque[tuple[float, int]] = deque()  # (time, count), oldest first

    def sample(self, count: int) -> None:
        now = self.clock()
        if self._samples and self._samples[-1][1] > count:
            self._samples.clear()  # counting again from 0: a new transfer of the file
        elif self._samples and self._samples[-1][0] == now:
            self._samples.pop()
        self._samples.append((now, count))
        # Keep one sample at or before the window's start: it anchors interpolation.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def rate(self, count: int) -> float:
        """The speed now, `count` being the current count."""
        self.sample(count)
        now = self.clock()
        start = now - self.window
        first_time, first_count = self._samples[0]
        if first_time >= now:
            return 0.0  # a single look: no time has passed to measure over
        if first_time >= start:  # counting for less than a window so far
            return (count - first_count) / (now - first_time)
        second_time, second_count = self._samples[1]
        share = (start - first_time) / (second_time - first_time)
        at_start = first_count + share * (second_count - first_count)
        return max(count - at_start, 0.0) / self.window


def eta(remaining: int, rate: float) -> str | None:
    """Time left at the current speed, or None when it cannot be known (stalled)."""
    if remaining <= 0 or rate <= 0:
        return None
    return duration(remaining / rate)
