"""Figures as a person reads them: speeds over a window, plurals, durations, times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from minitorrent.client.figures import Speedometer, duration, eta, plural, when

MiB = 1 << 20


class Clock:
    """A clock the test moves by hand (`clock.now += 1`)."""

    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_speed_is_the_bytes_of_the_last_five_seconds() -> None:
    clock = Clock()
    speed = Speedometer(5.0, clock)
    count = 0
    for _ in range(10):  # 1 MiB a second, sampled each second
        speed.sample(count)
        clock.now += 1
        count += MiB
    assert speed.rate(count) == pytest.approx(MiB)


def test_speed_falls_to_zero_once_nothing_arrives_for_a_window() -> None:
    clock = Clock()
    speed = Speedometer(5.0, clock)
    speed.sample(0)
    clock.now += 1
    speed.sample(14 * MiB)  # a burst, then every seeder stops
    clock.now += 2
    assert speed.rate(14 * MiB) == pytest.approx(14 * MiB / 3)  # within the window
    clock.now += 2.5  # the window starts half way through the burst's second
    assert speed.rate(14 * MiB) == pytest.approx(7 * MiB / 5)
    clock.now += 0.5
    assert speed.rate(14 * MiB) == 0.0  # the window holds nothing any more
    clock.now += 60
    assert speed.rate(14 * MiB) == 0.0


def test_speed_counts_only_the_part_of_a_long_gap_inside_the_window() -> None:
    # Samples 10 s apart (no progress reports in between): bytes are taken to have
    # arrived evenly, so the window holds half of them.
    clock = Clock()
    speed = Speedometer(5.0, clock)
    speed.sample(0)
    clock.now += 10
    assert speed.rate(10 * MiB) == pytest.approx(MiB)


def test_speed_is_0_at_the_first_look_and_after_a_restart() -> None:
    clock = Clock()
    speed = Speedometer(5.0, clock)
    assert speed.rate(5 * MiB) == 0.0
    clock.now += 1
    assert speed.rate(6 * MiB) == pytest.approx(MiB)
    clock.now += 1
    assert speed.rate(0) == 0.0  # a new transfer counts from 0 again
    clock.now += 1
    assert speed.rate(MiB) == pytest.approx(MiB)


@pytest.mark.parametrize(
    ("count", "text"), [(0, "0 peers"), (1, "1 peer"), (2, "2 peers"), (11, "11 peers")]
)
def test_plural(count: int, text: str) -> None:
    assert plural(count, "peer") == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (0.2, "1 s"), (59, "59 s"), (60, "1 min"), (200, "3 min 20 s"),
     (3600, "1 h"), (7500, "2 h 5 min")],
)  # fmt: skip
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_eta_is_unknown_when_nothing_arrives() -> None:
    assert eta(10 * MiB, 0.0) is None
    assert eta(0, MiB) is None
    assert eta(10 * MiB, MiB) == "10 s"


def test_times_within_the_hour_are_relative_older_ones_local() -> None:
    local = timezone(timedelta(hours=2))
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=local)
    assert when(now - timedelta(seconds=2), now) == "just now"
    assert when(now - timedelta(seconds=42), now) == "42 s ago"
    assert when(now - timedelta(minutes=3, seconds=10), now) == "3 min ago"
    # The tracker's times are UTC; older ones show in the reader's zone.
    utc_naive = datetime(2026, 12, 7, 7, 30, 0)
    assert when(utc_naive, now) == "2026-12-07 09:30"
    assert when(utc_naive.replace(tzinfo=UTC), now) == "2026-12-07 09:30"
