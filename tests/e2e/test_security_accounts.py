"""Account creation and login against a real tracker process: argon2 runs without holding
the database, and creating accounts is limited per address."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from minitorrent.driver import Client, Tracker
from minitorrent.trackers import load_trackers

# argon2id at the tracker's production cost (TrackerSettings' defaults): what stalls.
PRODUCTION_HASH = {
    "MINITORRENT_TRACKER_PASSWORD_TIME_COST": "3",
    "MINITORRENT_TRACKER_PASSWORD_MEMORY_KIB": "65536",
    "MINITORRENT_TRACKER_PASSWORD_PARALLELISM": "4",
}
# 20 new accounts, as seen in the wild; fewer logins (each argon2 hash takes ~0.4 s
# on a loaded 2-core machine, and they queue for the hashing slots).
BURSTS = {"/users": 20, "/sessions": 8}
# GET /me took up to 4 s during such a burst when argon2 ran with the database slot held;
# it takes milliseconds otherwise. Generous for a loaded 2-core machine.
PROMPT = 1.0


def _url(info: Path) -> str:
    [tracker] = load_trackers(info)
    return tracker.url + "/api/v1"


async def _slowest_me_during(
    http: httpx.AsyncClient, token: str, burst: list[asyncio.Task[httpx.Response]]
) -> float:
    """The longest GET /me took while the burst ran (asked one after another)."""
    slowest = 0.0
    headers = {"Authorization": f"Bearer {token}"}
    while not all(task.done() for task in burst):
        start = time.monotonic()
        answer = await http.get("/me", headers=headers)
        slowest = max(slowest, time.monotonic() - start)
        assert answer.status_code == 200, answer.text
    return slowest


async def _burst_then_check(info: Path, report: Callable[[str], None]) -> None:
    limits = httpx.Limits(max_connections=max(BURSTS.values()) + 5)
    async with httpx.AsyncClient(base_url=_url(info), timeout=120, limits=limits) as http:
        watcher = {"user_id": "watcher", "password": "pw"}
        assert (await http.post("/users", json=watcher)).status_code == 201
        token = (await http.post("/sessions", json=watcher)).json()["token"]
        await http.get("/me", headers={"Authorization": f"Bearer {token}"})  # warm

        for path, count in BURSTS.items():
            burst = [
                asyncio.create_task(
                    http.post(path, json={"user_id": f"new{i}", "password": f"pw{i}"})
                )
                for i in range(count)
            ]
            slowest = await _slowest_me_during(http, token, burst)
            assert [task.result().status_code for task in burst] == [201] * count
            report(f"slowest GET /me during {count} concurrent POST {path}: {slowest:.3f} s")
            assert slowest < PROMPT, (path, slowest)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_other_requests_are_answered_during_a_burst_of_new_accounts_and_logins(
    start_tracker: Callable[..., Tracker], tracker_info: Path, report: Callable[[str], None]
) -> None:
    start_tracker(env=PRODUCTION_HASH)
    asyncio.run(_burst_then_check(tracker_info, report))


def test_new_accounts_are_limited_per_address(
    start_tracker: Callable[..., Tracker],
    start_client: Callable[..., Client],
    tracker_info: Path,
) -> None:
    start_tracker(env={"MINITORRENT_TRACKER_SIGNUP_MAX_PER_ADDRESS": "3"})
    client = start_client()
    for user in ("ann", "bob", "cat"):
        client.ok(f"create_user {user} pw")
    client.fails("create_user ann pw", r"^error: user 'ann' already exists$")  # no hash: free
    refusal = r"^error: too many new accounts from this address; try again in (\d+) s$"
    seconds = int(re.match(refusal, client.fails("create_user dan pw", refusal))[1])  # type: ignore[index]
    assert 590 <= seconds <= 600
    answer = httpx.post(_url(tracker_info) + "/users", json={"user_id": "eve", "password": "pw"})
    assert answer.status_code == 429 and 0 < int(answer.headers["Retry-After"]) <= 600
    assert answer.json()["error"] == "too_many_attempts"
    client.ok("login ann pw")  # logging in is not creating
