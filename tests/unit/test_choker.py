"""Unit tests for the pure choker."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from minitorrent.peer.choker import (
    OPTIMISTIC_INTERVAL,
    OptimisticSlot,
    PeerStats,
    choose_unchoked,
    pick_optimistic,
)


def ps(
    peer: str,
    *,
    interested: bool = True,
    to_us: float = 0.0,
    from_us: float = 0.0,
    seed: bool = False,
    at: float = 0.0,
) -> PeerStats:
    return PeerStats(peer, interested, to_us, from_us, seed, at)


SWARM = [
    ps("a", to_us=100, from_us=5),
    ps("b", to_us=300, from_us=1),
    ps("c", to_us=200, from_us=50),
    ps("d", to_us=50, from_us=500),
    ps("e", to_us=400, from_us=10, interested=False),
    ps("f", to_us=900, from_us=900, seed=True),
    ps("g", to_us=10, from_us=100),
]


def test_leecher_unchokes_best_uploaders_to_us() -> None:
    assert choose_unchoked(SWARM, we_are_seed=False, slots=2, optimistic=None) == {"b", "c"}


def test_seeder_unchokes_fastest_downloaders() -> None:
    assert choose_unchoked(SWARM, we_are_seed=True, slots=2, optimistic=None) == {"d", "g"}


def test_uninterested_and_seeds_are_never_unchoked() -> None:
    got = choose_unchoked(SWARM, we_are_seed=False, slots=10, optimistic="e")
    assert got == {"a", "b", "c", "d", "g"}
    assert choose_unchoked(SWARM, we_are_seed=True, slots=10, optimistic="f") == got


def test_optimistic_is_on_top_of_the_regular_slots() -> None:
    got = choose_unchoked(SWARM, we_are_seed=False, slots=2, optimistic="g")
    assert got == {"b", "c", "g"}
    # Optimistic peer that would have won a regular slot: the slot goes to the next best.
    got = choose_unchoked(SWARM, we_are_seed=False, slots=2, optimistic="b")
    assert got == {"b", "c", "a"}


def test_optimistic_not_connected_is_ignored() -> None:
    assert choose_unchoked(SWARM, we_are_seed=False, slots=1, optimistic="zz") == {"b"}


def test_zero_slots_and_empty() -> None:
    assert choose_unchoked(SWARM, we_are_seed=False, slots=0, optimistic=None) == set()
    assert choose_unchoked(SWARM, we_are_seed=False, slots=0, optimistic="a") == {"a"}
    assert choose_unchoked([], we_are_seed=True, optimistic=None) == set()
    with pytest.raises(ValueError):
        choose_unchoked(SWARM, we_are_seed=False, slots=-1, optimistic=None)


def test_default_slots_is_four() -> None:
    assert len(choose_unchoked(SWARM, we_are_seed=False, optimistic=None)) == 4


def test_ties_go_to_the_longest_connected() -> None:
    peers = [ps("new", at=50.0), ps("old", at=1.0), ps("mid", at=20.0)]
    assert choose_unchoked(peers, we_are_seed=False, slots=2, optimistic=None) == {"old", "mid"}
    assert choose_unchoked(peers, we_are_seed=True, slots=1, optimistic=None) == {"old"}


def test_input_is_not_mutated() -> None:
    peers = list(SWARM)
    choose_unchoked(peers, we_are_seed=False, slots=2, optimistic="a")
    assert peers == SWARM


# ---------------------------------------------------------------- optimistic rotation


def test_optimistic_kept_until_the_interval_passes() -> None:
    rng = random.Random(1)
    slot = pick_optimistic(SWARM, rng, 100.0, None)
    assert slot is not None
    assert slot.since == 100.0
    assert slot.peer in {"a", "b", "c", "d", "g"}
    for now in (100.0, 110.0, 100.0 + OPTIMISTIC_INTERVAL - 0.001):
        assert pick_optimistic(SWARM, rng, now, slot) is slot
    nxt = pick_optimistic(SWARM, rng, 100.0 + OPTIMISTIC_INTERVAL, slot)
    assert nxt is not None
    assert nxt.peer != slot.peer
    assert nxt.since == 100.0 + OPTIMISTIC_INTERVAL


def test_optimistic_replaced_when_it_leaves_or_loses_interest() -> None:
    rng = random.Random(2)
    slot = OptimisticSlot("a", 0.0)
    others = [s for s in SWARM if s.peer != "a"]
    nxt = pick_optimistic(others, rng, 1.0, slot)
    assert nxt is not None
    assert nxt.peer != "a"
    assert nxt.since == 1.0
    bored = [ps("a", interested=False), ps("b")]
    nxt = pick_optimistic(bored, rng, 1.0, slot)
    assert nxt == OptimisticSlot("b", 1.0)


def test_optimistic_none_without_candidates() -> None:
    rng = random.Random(3)
    assert pick_optimistic([], rng, 0.0, None) is None
    assert pick_optimistic([ps("x", interested=False), ps("s", seed=True)], rng, 0.0, None) is None
    assert pick_optimistic([ps("x", interested=False)], rng, 99.0, OptimisticSlot("x", 0.0)) is None


def test_single_candidate_is_kept_after_rotation() -> None:
    rng = random.Random(4)
    nxt = pick_optimistic([ps("a")], rng, 100.0, OptimisticSlot("a", 0.0))
    assert nxt == OptimisticSlot("a", 100.0)


def test_optimistic_is_deterministic_for_a_seeded_rng() -> None:
    draws = [pick_optimistic(SWARM, random.Random(7), 0.0, None) for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]


def test_optimistic_rotation_reaches_everyone_and_favours_newcomers() -> None:
    now = 1000.0
    peers = [ps("old1", at=0.0), ps("old2", at=0.0), ps("new", at=now - 5.0)]
    rng = random.Random(5)
    counts: Counter[object] = Counter()
    for _ in range(3000):
        slot = pick_optimistic(peers, rng, now, None)
        assert slot is not None
        counts[slot.peer] += 1
    assert set(counts) == {"old1", "old2", "new"}
    # Weights 3:1:1 -> about 60% for the newcomer.
    assert 0.5 < counts["new"] / 3000 < 0.7


def test_custom_interval() -> None:
    rng = random.Random(6)
    slot = OptimisticSlot("a", 0.0)
    assert pick_optimistic(SWARM, rng, 5.0, slot, interval=10.0) is slot
    nxt = pick_optimistic(SWARM, rng, 10.0, slot, interval=10.0)
    assert nxt is not None
    assert nxt.peer != "a"
