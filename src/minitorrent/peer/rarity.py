"""Availability of each piece and the free pieces ordered by it (rarest first).

Pure: no I/O, no clock; randomness from an injected :class:`random.Random`.

* Availability counts the peers that announced a piece with a bitfield or ``have``.
  Peers that have everything are counted once in ``seeds`` instead, so a seed joining
  or leaving costs O(1) and does not change rarity order.
* Free pieces (none of their blocks requested or received) live in ``_order``,
  grouped by availability: bucket ``a`` is the slice ``_order[_bstart[a]:_bstart[a + 1]]``.
  Moving a piece between neighbouring buckets is one swap; inserting or removing costs
  one swap per bucket (buckets <= peers). Picking scans the buckets from the rarest,
  starting at a random offset inside each bucket, so equally rare pieces are chosen
  in random order.
"""

from __future__ import annotations

import random
from collections.abc import Container, Iterable
from itertools import chain
from typing import NoReturn

__all__ = ["RarityOrder"]


def _fail(message: str) -> NoReturn:
    raise AssertionError(message)


class RarityOrder:
    """Per-piece availability and the bucketed order of the free pieces."""

    def __init__(self, num_pieces: int, free: Iterable[int], rng: random.Random) -> None:
        self.avail = [0] * num_pieces  # bitfield/have peers per piece (seeds apart)
        self.seeds = 0  # peers that have every piece
        self._rng = rng
        self._order = list(free)  # all free pieces start in bucket 0
        self._pos = [-1] * num_pieces
        for p, index in enumerate(self._order):
            self._pos[index] = p
        self._bstart = [0, len(self._order)]
        self._free_from = 0  # no free piece below this index (see lowest)

    def __len__(self) -> int:
        """How many pieces are free."""
        return len(self._order)

    def free_pieces(self) -> list[int]:
        return list(self._order)

    def is_free(self, index: int) -> bool:
        return self._pos[index] >= 0

    def availability(self, index: int) -> int:
        """How many connected peers have piece ``index``."""
        return self.avail[index] + self.seeds

    def any_announced(self) -> bool:
        """A free piece is announced by at least one bitfield peer."""
        return self._bstart[1] < len(self._order)

    # ------------------------------------------------------------------ picking

    def rarest(self, pieces: bytearray | None, skip: Container[int]) -> int:
        """A rarest free piece among ``pieces`` (None: any) not in ``skip``, or -1."""
        order, bstart, rng = self._order, self._bstart, self._rng
        # A piece in bucket 0 is announced by no bitfield peer: not by this one.
        first = 0 if pieces is None else 1
        for b in range(first, len(bstart) - 1):
            lo, hi = bstart[b], bstart[b + 1]
            if lo == hi:
                continue
            start = lo + rng.randrange(hi - lo)
            for p in chain(range(start, hi), range(lo, start)):
                index = order[p]
                if (pieces is None or pieces[index]) and not (skip and index in skip):
                    return index
        return -1

    def lowest(self, skip: Container[int]) -> int:
        """The free piece of lowest index not in ``skip``, or -1 (amortised O(1): the
        hint only moves back when a piece becomes free again)."""
        pos, n = self._pos, len(self._pos)
        i = self._free_from
        while i < n and pos[i] < 0:
            i += 1
        self._free_from = i
        while i < n and (pos[i] < 0 or i in skip):
            i += 1
        return i if i < n else -1

    # ------------------------------------------------------------------ buckets

    def inc(self, index: int) -> None:
        """One more bitfield peer has piece ``index``."""
        a = self.avail[index]
        self.avail[index] = a + 1
        p = self._pos[index]
        if p < 0:
            return
        order, pos, bstart = self._order, self._pos, self._bstart
        if len(bstart) - 1 <= a + 1:
            bstart.append(len(order))  # new empty top bucket
        last = bstart[a + 1] - 1  # last slot of bucket a
        other = order[last]
        order[p], pos[other] = other, p
        order[last], pos[index] = index, last
        bstart[a + 1] = last  # the piece is now first of bucket a + 1

    def dec(self, index: int) -> None:
        """A bitfield peer with piece ``index`` left."""
        a = self.avail[index]
        self.avail[index] = a - 1
        p = self._pos[index]
        if p < 0:
            return
        order, pos, bstart = self._order, self._pos, self._bstart
        first = bstart[a]  # first slot of bucket a
        other = order[first]
        order[p], pos[other] = other, p
        order[first], pos[index] = index, first
        bstart[a] = first + 1  # the piece is now last of bucket a - 1
        self._trim_buckets()

    def insert(self, index: int) -> None:
        """Piece ``index`` is free again, in the bucket of its availability."""
        a = self.avail[index]
        order, pos, bstart = self._order, self._pos, self._bstart
        while len(bstart) - 1 <= a:
            bstart.append(len(order))
        p = len(order)
        order.append(index)
        pos[index] = p
        bstart[-1] = len(order)
        self._free_from = min(self._free_from, index)
        # Bubble down one bucket at a time: swap with the first slot, shrink the bucket.
        for b in range(len(bstart) - 2, a, -1):
            first = bstart[b]
            other = order[first]
            order[p], pos[other] = other, p
            order[first], pos[index] = index, first
            bstart[b] = first + 1
            p = first

    def remove(self, index: int) -> None:
        """Piece ``index`` is started (or verified): no longer free."""
        order, pos, bstart = self._order, self._pos, self._bstart
        p = pos[index]
        # Bubble up to the end of the array: swap with the last slot, grow the next bucket.
        for b in range(self.avail[index], len(bstart) - 1):
            last = bstart[b + 1] - 1
            other = order[last]
            order[p], pos[other] = other, p
            order[last], pos[index] = index, last
            bstart[b + 1] = last
            p = last
        order.pop()
        pos[index] = -1
        self._trim_buckets()

    def _trim_buckets(self) -> None:
        bstart = self._bstart
        while len(bstart) > 2 and bstart[-2] == bstart[-1]:
            bstart.pop()

    # ------------------------------------------------------------------ invariants

    def check(self, avail: list[int], seeds: int) -> None:
        """Raise AssertionError unless the counts are ``avail`` and ``seeds`` and every
        free piece sits in the bucket of its availability."""
        if avail != self.avail:
            _fail("availability disagrees with peer bitfields")
        if seeds != self.seeds:
            _fail("seed count disagrees with peers")
        order, pos, bstart = self._order, self._pos, self._bstart
        if len(bstart) < 2 or bstart[0] != 0 or bstart[-1] != len(order):
            _fail(f"bad bucket bounds {bstart}")
        if any(bstart[b] > bstart[b + 1] for b in range(len(bstart) - 1)):
            _fail(f"bucket bounds not sorted {bstart}")
        if len(bstart) > 2 and bstart[-2] == bstart[-1]:
            _fail("empty top bucket not trimmed")
        for b in range(len(bstart) - 1):
            for p in range(bstart[b], bstart[b + 1]):
                i = order[p]
                if pos[i] != p:
                    _fail(f"pos of piece {i} is {pos[i]}, expected {p}")
                if self.avail[i] != b:
                    _fail(f"piece {i} with availability {self.avail[i]} in bucket {b}")
        if order and min(order) < self._free_from:
            _fail(f"free piece {min(order)} below the hint {self._free_from}")
