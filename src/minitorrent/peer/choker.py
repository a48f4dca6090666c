"""Pure choker: which peers we upload to (tit-for-tat plus one optimistic unchoke).

No clock and no randomness of its own: the caller passes rates measured over its
last interval (bytes/second), the current time and a :class:`random.Random`.

Typical use, every 10 s::

    slot = pick_optimistic(stats, rng, now, slot)          # rotates every 30 s
    unchoke = choose_unchoked(stats, we_are_seed=seeding, optimistic=slot and slot.peer)
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

__all__ = [
    "NEWCOMER_WEIGHT",
    "OPTIMISTIC_INTERVAL",
    "OptimisticSlot",
    "PeerStats",
    "choose_unchoked",
    "pick_optimistic",
]

OPTIMISTIC_INTERVAL = 30.0
"""Seconds an optimistic unchoke lasts before it rotates."""
NEWCOMER_WEIGHT = 3
"""Peers connected for less than one interval are this many times as likely to be drawn:
they have no piece to trade yet, and this is how they get their first ones."""


@dataclass(frozen=True, slots=True)
class PeerStats:
    peer: Hashable
    interested: bool  # the peer is interested in us
    rate_to_us: float  # bytes/s we download from it
    rate_from_us: float  # bytes/s we upload to it
    is_seed: bool  # it has every piece (never needs our upload)
    connected_at: float  # same clock as `now`


@dataclass(frozen=True, slots=True)
class OptimisticSlot:
    peer: Hashable
    since: float


def _wants_upload(s: PeerStats) -> bool:
    return s.interested and not s.is_seed


def choose_unchoked(
    peers: Sequence[PeerStats],
    *,
    we_are_seed: bool,
    slots: int = 4,
    optimistic: Hashable | None = None,
) -> set[Hashable]:
    """The peers to unchoke; every other peer is choked.

    Only interested non-seed peers are candidates. As a leecher, the ``slots`` best
    uploaders to us (tit-for-tat); as a seed, the ``slots`` peers we upload to fastest
    (those who can take the most). Ties go to the peer connected longest, then to input
    order. ``optimistic`` (if it is a candidate) is unchoked on top of the ``slots``.
    """
    if slots < 0:
        raise ValueError("slots must not be negative")
    candidates = [s for s in peers if _wants_upload(s)]
    chosen: set[Hashable] = set()
    if optimistic is not None and any(s.peer == optimistic for s in candidates):
        chosen.add(optimistic)
        candidates = [s for s in candidates if s.peer != optimistic]
    if we_are_seed:
        candidates.sort(key=lambda s: (-s.rate_from_us, s.connected_at))
    else:
        candidates.sort(key=lambda s: (-s.rate_to_us, s.connected_at))
    chosen.update(s.peer for s in candidates[:slots])
    return chosen


def pick_optimistic(
    peers: Sequence[PeerStats],
    rng: random.Random,
    now: float,
    current: OptimisticSlot | None,
    *,
    interval: float = OPTIMISTIC_INTERVAL,
) -> OptimisticSlot | None:
    """Keep ``current`` while it is fresh and still a candidate; otherwise draw a new one.

    The draw is among interested non-seed peers, avoiding the current holder when any
    other candidate exists; newcomers get :data:`NEWCOMER_WEIGHT` times the weight.
    Returns None when there is no candidate.
    """
    candidates = [s for s in peers if _wants_upload(s)]
    if (
        current is not None
        and now - current.since < interval
        and any(s.peer == current.peer for s in candidates)
    ):
        return current
    if current is not None and len(candidates) > 1:
        candidates = [s for s in candidates if s.peer != current.peer]
    if not candidates:
        return None
    weights = [NEWCOMER_WEIGHT if now - s.connected_at < interval else 1 for s in candidates]
    chosen = rng.choices(candidates, weights=weights)[0]
    return OptimisticSlot(chosen.peer, now)
