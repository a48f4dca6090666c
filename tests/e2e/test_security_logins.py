"""Password guessing through the client: a user's failures lock that user; an address
(a lab behind one NAT) is refused only for abuse far beyond a room's typing mistakes;
an unknown user and a wrong password get the same answer in the same time."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from minitorrent.driver import Client, Tracker
from minitorrent.trackers import load_trackers

RETRY = r"^error: too many failed logins; try again in (\d+) s$"
WRONG = r"^error: wrong user id or password$"


def _retry_after(client: Client, command: str) -> int:
    seconds = int(re.match(RETRY, client.fails(command, RETRY))[1])  # type: ignore[index]
    assert 0 < seconds <= 600
    return seconds


def test_typos_for_unknown_ids_do_not_lock_out_other_users_of_the_address(
    start_tracker: Callable[..., Tracker], start_client: Callable[..., Client]
) -> None:
    """The tracker's default limits: one address, a class of typing mistakes."""
    start_tracker()
    client = start_client()
    for user in ("ann", "bob"):
        client.ok(f"create_user {user} right-{user}")
    for i in range(25):  # more than the whole address was allowed to fail before
        client.fails(f"login nobody{i} guess", WRONG)
    for _ in range(5):
        client.fails("login ann guess", WRONG)
    client.ok("login bob right-bob")  # neither the unknown ids nor ann's failures count
    client.ok("logout")
    # ann's own counter is full: even her right password waits until the window ends.
    _retry_after(client, "login ann right-ann")


def test_an_address_is_refused_after_far_more_failures(
    start_tracker: Callable[..., Tracker], start_client: Callable[..., Client]
) -> None:
    """The address limit, made small here (it is 300 per 10 minutes by default)."""
    start_tracker(env={"MINITORRENT_TRACKER_LOGIN_MAX_FAILURES_PER_IP": "8"})
    client = start_client()
    client.ok("create_user cat right-cat")
    for i in range(8):
        client.fails(f"login nobody{i} guess", WRONG)
    _retry_after(client, "login cat right-cat")


# argon2id at a cost that takes tens of milliseconds: the difference to hide.
MEASURABLE_HASH = {
    "MINITORRENT_TRACKER_PASSWORD_TIME_COST": "2",
    "MINITORRENT_TRACKER_PASSWORD_MEMORY_KIB": "16384",
    "MINITORRENT_TRACKER_PASSWORD_PARALLELISM": "1",
}


def _median_login(http: httpx.Client, user_id: str, tries: int) -> tuple[float, httpx.Response]:
    times, answer = [], None
    for i in range(tries):
        start = time.monotonic()
        answer = http.post("/sessions", json={"user_id": user_id, "password": f"guess{i}"})
        times.append(time.monotonic() - start)
    assert answer is not None
    return statistics.median(times), answer


def test_an_unknown_user_and_a_wrong_password_look_alike(
    start_tracker: Callable[..., Tracker], tracker_info: Path
) -> None:
    start_tracker(env=MEASURABLE_HASH)
    [tracker] = load_trackers(tracker_info)
    with httpx.Client(base_url=tracker.url + "/api/v1", timeout=30) as http:
        assert http.post("/users", json={"user_id": "ann", "password": "pw"}).status_code == 201
        # Four tries each: below ann's own limit of five.
        known, wrong = _median_login(http, "ann", 4)
        unknown, nobody = _median_login(http, "nobody", 4)
    assert (wrong.status_code, wrong.json()) == (nobody.status_code, nobody.json())
    assert wrong.json() == {"error": "wrong_credentials", "message": "wrong user id or password"}
    # Without a dummy hash an unknown user was answered ~20x sooner.
    assert 0.5 < unknown / known < 2, (known, unknown)
