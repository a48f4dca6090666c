"""Password guessing through the client: failed logins are slowed per user and per IP."""

from __future__ import annotations

import re
from collections.abc import Callable

from minitorrent.driver import Client, Tracker

# Small limits so the test needs few attempts; the window outlives the test.
LIMITS = {
    "MINITORRENT_TRACKER_LOGIN_MAX_FAILURES_PER_USER": "3",
    "MINITORRENT_TRACKER_LOGIN_MAX_FAILURES_PER_IP": "5",
    "MINITORRENT_TRACKER_LOGIN_WINDOW": "600",
}
RETRY = r"^error: too many failed logins; try again in (\d+) s$"


def _retry_after(client: Client, command: str) -> int:
    seconds = int(re.match(RETRY, client.fails(command, RETRY))[1])  # type: ignore[index]
    assert 0 < seconds <= 600
    return seconds


def test_wrong_passwords_lock_the_user_then_the_address(
    start_tracker: Callable[..., Tracker], start_client: Callable[..., Client]
) -> None:
    start_tracker(env=LIMITS)
    client = start_client()
    for user in ("ann", "bob", "cat"):
        client.ok(f"create_user {user} right-{user}")
    for _ in range(3):
        client.fails("login ann guess", r"^error: wrong password$")
    # ann's counter is full: even the right password waits until the window ends.
    _retry_after(client, "login ann right-ann")
    client.ok("login bob right-bob")  # another user from the same address still may
    client.ok("logout")
    client.fails("login bob guess", r"wrong password")
    client.fails("login nobody guess", r"no such user")  # unknown users count too
    # Five failures from this address: every user is refused here now.
    _retry_after(client, "login cat right-cat")
    _retry_after(client, "login bob right-bob")
