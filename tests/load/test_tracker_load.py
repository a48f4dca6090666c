"""Load: 200 simulated users against one real tracker process for 60 s.

The load generator (tests/load/loadgen.py) is a process of its own on loopback. Its users
announce, read their groups and files and churn memberships, offering 1,000 requests per
second in all. Every request must succeed; the achieved rate and the latencies are
printed; the tracker's memory must be flat once warmed up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.driver import Tracker

from ..e2e.sharing_helpers import MiB, tracker_port
from .helpers import result_of, rss, start_loadgen

USERS = 200
RATE = 1000
DURATION = 60
WARMUP = 10


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_200_users_for_60_seconds(
    tracker: Tracker, tracker_info: Path, report: Callable[[str], None]
) -> None:
    args = ["--users", str(USERS), "--rate", str(RATE), "--duration", str(DURATION)]
    gen = start_loadgen("mixed", tracker_port(tracker_info), *args, "--warmup", str(WARMUP))
    try:
        gen.wait_for_line(r"^warm-up done", timeout=120)
        warm = rss(tracker.popen.pid)
        result = result_of(gen, timeout=DURATION + 60)
        final = rss(tracker.popen.pid)
    finally:
        gen.kill()
    report(  # the numbers belong in the CI log
        f"tracker load: {result['requests']} requests in {result['seconds']} s "
        f"({result['rps']} req/s offered {RATE}), {result['failed']} failed; latency "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms; "
        f"tracker RSS {warm / MiB:.1f} MiB after warm-up, {final / MiB:.1f} MiB at the end; "
        f"steps by kind {result['mix']}"
    )
    assert result["failed"] == 0, result["samples"]
    assert final <= warm * 1.2 + 4 * MiB, (warm, final)
