"""The seeder's cache of the tracker's vouches (peer/vouch.py), with a fake tracker."""

from __future__ import annotations

import asyncio

import pytest

from minitorrent.errors import TrackerRefused, TrackerUnreachable
from minitorrent.peer import vouch
from minitorrent.peer.vouch import Vouchers

IH, PID = b"i" * 20, b"p" * 20


class FakeTracker:
    def __init__(self) -> None:
        self.members: set[tuple[bytes, bytes, str]] = set()
        self.asked = 0
        self.fail: Exception | None = None

    async def ask(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        self.asked += 1
        await asyncio.sleep(0)  # a real request yields to the loop
        if self.fail is not None:
            raise self.fail
        return (info_hash, peer_id, ip) in self.members


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tracker() -> FakeTracker:
    return FakeTracker()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(tracker: FakeTracker, clock: Clock) -> Vouchers:
    return Vouchers(tracker.ask, positive_ttl=30, negative_ttl=5, clock=clock)


def test_yes_is_cached_for_its_ttl_then_asked_again(
    cache: Vouchers, tracker: FakeTracker, clock: Clock
) -> None:
    tracker.members.add((IH, PID, "10.0.0.1"))
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is True
    assert cache.vouched(IH, PID, "::ffff:10.0.0.1")  # a dual-stack view of the address
    clock.now = 29.9
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is True and tracker.asked == 1
    tracker.members.clear()  # the member left the group
    clock.now = 30.0
    assert not cache.vouched(IH, PID, "10.0.0.1")
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is False and tracker.asked == 2


def test_no_is_cached_briefly(cache: Vouchers, tracker: FakeTracker, clock: Clock) -> None:
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is False
    tracker.members.add((IH, PID, "10.0.0.1"))  # it announces now
    clock.now = 4.9
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is False and tracker.asked == 1
    clock.now = 5.0
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is True and tracker.asked == 2


def test_announce_listings_and_other_addresses(cache: Vouchers, tracker: FakeTracker) -> None:
    cache.remember(IH, PID, "10.0.0.1")
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is True and tracker.asked == 0
    assert not cache.vouched(IH, PID, "10.0.0.2")  # the same peer id elsewhere: ask
    assert not cache.vouched(b"j" * 20, PID, "10.0.0.1")  # another file: ask


def test_concurrent_handshakes_cost_one_request(cache: Vouchers, tracker: FakeTracker) -> None:
    async def many() -> list[bool | None]:
        return await asyncio.gather(*(cache.check(IH, PID, "10.0.0.1") for _ in range(20)))

    assert asyncio.run(many()) == [False] * 20 and tracker.asked == 1


def test_tracker_down_is_no_answer_and_not_cached(cache: Vouchers, tracker: FakeTracker) -> None:
    tracker.fail = TrackerUnreachable("down")
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is None
    tracker.fail = TrackerRefused("not a member of 'g'", code="not_member", status=403)
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is False and tracker.asked == 2


def test_the_cache_is_bounded(
    cache: Vouchers, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vouch, "MAX_ENTRIES", 100)
    for n in range(1000):  # a peer inventing peer ids
        asyncio.run(cache.check(IH, n.to_bytes(20, "big"), "10.0.0.1"))
    assert len(cache._answers) <= 100
    cache.remember(IH, PID, "10.0.0.1")
    assert cache.vouched(IH, PID, "10.0.0.1")


def _ids(n: int) -> list[bytes]:
    return [k.to_bytes(20, "big") for k in range(n)]


def test_a_stranger_trying_peer_ids_is_refused_by_address(
    cache: Vouchers, tracker: FakeTracker, clock: Clock
) -> None:
    for peer_id in _ids(50):  # one after the other, each refused
        assert asyncio.run(cache.check(IH, peer_id, "10.0.0.9")) is False
    assert tracker.asked == 1  # the first no covers the address, for this file
    tracker.members.add((IH, PID, "10.0.0.1"))
    assert asyncio.run(cache.check(IH, PID, "10.0.0.1")) is True  # another address
    assert asyncio.run(cache.check(b"j" * 20, PID, "10.0.0.9")) is False  # another file
    assert tracker.asked == 3
    clock.now = 5.0  # the refusal expires: one more look-up
    assert asyncio.run(cache.check(IH, b"n" * 20, "10.0.0.9")) is False and tracker.asked == 4


def test_lookups_per_address_are_limited_at_once_and_over_time(
    cache: Vouchers, tracker: FakeTracker, clock: Clock
) -> None:
    async def burst(ids: list[bytes], ip: str) -> list[bool | None]:
        return await asyncio.gather(*(cache.check(IH, p, ip) for p in ids))

    answers = asyncio.run(burst(_ids(30), "10.0.0.9"))
    assert tracker.asked == vouch.LOOKUPS_IN_FLIGHT
    assert answers.count(None) == 30 - vouch.LOOKUPS_IN_FLIGHT  # not asked: refused
    # Different files (so no refusal cache): the bucket runs dry, then trickles.
    files = [bytes([n]) * 20 for n in range(40)]
    for info_hash in files:
        asyncio.run(cache.check(info_hash, PID, "10.0.0.8"))
    assert tracker.asked == vouch.LOOKUPS_IN_FLIGHT + vouch.LOOKUP_BURST
    clock.now = 2 / vouch.LOOKUP_RATE  # time for two more
    for info_hash in files:
        asyncio.run(cache.check(info_hash, PID, "10.0.0.8"))
    assert tracker.asked == vouch.LOOKUPS_IN_FLIGHT + vouch.LOOKUP_BURST + 2


def test_a_members_new_peer_ids_are_not_rationed(cache: Vouchers, tracker: FakeTracker) -> None:
    for peer_id in _ids(3 * vouch.LOOKUP_BURST):  # a member's client, restarted often
        tracker.members.add((IH, peer_id, "10.0.0.1"))
        assert asyncio.run(cache.check(IH, peer_id, "10.0.0.1")) is True
    assert tracker.asked == 3 * vouch.LOOKUP_BURST
