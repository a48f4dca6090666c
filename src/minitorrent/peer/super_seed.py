"""Which pieces a seed shows each downloader, so that every piece leaves it once before
any piece leaves it twice (super-seeding, in the spirit of BEP 16).

A seed that shows every downloader every piece lets them pick: several then fetch the
same piece from the seed while others are missing, and the seed's upload, the swarm's
scarcest resource, carries copies the downloaders could have traded among themselves.
Instead the seed announces no piece at first and then, with ``have`` messages, a few
pieces to each downloader at a time: pieces no one was given yet, in index order from a
random first one (several seeds of one downloader then serve it different pieces, and a
seed whose pieces the downloader got elsewhere moves on to the middle of the longest run
of pieces it never gave, away from the other seed); once
every piece was given, the pieces with the fewest copies in the swarm that the downloader
lacks. Downloaders fetch the rest from each other, as they announce pieces.

Each downloader keeps ``ahead`` pieces shown and not yet asked for, topped up as it asks
for one: its request pipeline never waits for us. A lone downloader is shown the pieces
in order, so it downloads as if it saw them all. Pieces shown to a downloader that we
choke are given back: another gets them instead of them waiting for an unchoke.

Pure bookkeeping (no I/O, no clock): the uploader sends the ``have`` messages it returns.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Hashable

__all__ = ["AHEAD_BYTES", "SuperSeed"]

AHEAD_BYTES = 1024 * 1024
"""Bytes of pieces shown and not yet requested, per downloader: a downloader keeps 64
requests of 16 KiB in flight, so this much keeps its pipeline full."""


class SuperSeed:
    def __init__(self, num_pieces: int, piece_length: int, *, start: int = 0) -> None:
        self.num_pieces = num_pieces
        self.ahead = max(2, AHEAD_BYTES // piece_length)
        self.given = [0] * num_pieces  # times a piece was shown and not given back
        # Fresh pieces go out in index order from the cursor, wrapping around.
        self._never_given = list(range(num_pieces))  # sorted
        self._cursor = start % num_pieces if num_pieces else 0
        self._returned: list[int] = []  # heap: pieces given back, given 0 times again
        self._shown: dict[Hashable, set[int]] = {}
        self._waiting: dict[Hashable, set[int]] = {}  # shown, not yet requested

    def add_peer(self, peer: Hashable) -> None:
        self._shown[peer] = set()
        self._waiting[peer] = set()

    def remove_peer(self, peer: Hashable) -> None:
        self.give_back(peer)
        self._shown.pop(peer, None)
        self._waiting.pop(peer, None)

    def knows(self, peer: Hashable) -> bool:
        """The peer is shown pieces one by one (it connected while we were a seed)."""
        return peer in self._shown

    def requested(self, peer: Hashable, index: int) -> bool:
        """The downloader asked for a block of ``index`` (or has it): no longer ahead.
        True if it was waiting (show the peer another)."""
        waiting = self._waiting.get(peer)
        if waiting is None or index not in waiting:
            return False
        waiting.remove(index)
        return True

    def announced(self, peer: Hashable, index: int) -> bool:
        """The downloader announced ``index``. If we showed it that piece and it never
        asked us for it, another source serves it there: our fresh pieces go on far from
        it (otherwise a seed trailing another would only ever show pieces already asked
        of the other, and serve nothing). True if it was waiting (show the peer another)."""
        if not self.requested(peer, index):
            return False
        self._jump()
        return True

    def _jump(self) -> None:
        """Move the cursor to the middle of the longest run of pieces never given."""
        fresh = self._never_given
        if not fresh:
            return
        best_start, best_length, run_start = fresh[0], 0, 0
        for i in range(1, len(fresh) + 1):
            if i == len(fresh) or fresh[i] != fresh[i - 1] + 1:
                if i - run_start > best_length:
                    best_start, best_length = fresh[run_start], i - run_start
                run_start = i
        self._cursor = best_start + best_length // 2

    @property
    def all_given(self) -> bool:
        """Every piece was given to some peer (and not given back)."""
        return not self._never_given and all(self.given[index] > 0 for index in self._returned)

    def show_all(self, peer: Hashable, has: Callable[[int], bool]) -> list[int]:
        """Every piece has left the seed once: it serves as any seed from now on. The
        pieces not shown to ``peer`` yet that it lacks (send ``have`` for each)."""
        shown = self._shown[peer]
        out = [i for i in range(self.num_pieces) if i not in shown and not has(i)]
        shown.update(out)
        return out

    def forget_had(self, peer: Hashable, has: Callable[[int], bool]) -> None:
        """The peer's bitfield came: pieces shown to it that it had are not given."""
        for index in [i for i in self._waiting.get(peer, ()) if has(i)]:
            self._waiting[peer].remove(index)
            self._take_back(index)

    def lacks_shown(self, peer: Hashable, has: Callable[[int], bool]) -> bool:
        """The peer lacks a piece shown to it (it has reason to be interested in us)."""
        return any(not has(i) for i in self._shown.get(peer, ()))

    def give_back(self, peer: Hashable) -> None:
        """Pieces shown to ``peer`` and not asked for are free for others (it was choked
        or left). It may still ask for them later: then they leave the seed twice."""
        waiting = self._waiting.get(peer)
        if not waiting:
            return
        for index in waiting:
            self._take_back(index)
        waiting.clear()

    def _take_back(self, index: int) -> None:
        self.given[index] -= 1
        if self.given[index] == 0:
            heapq.heappush(self._returned, index)

    def top_up(
        self,
        peer: Hashable,
        has: Callable[[int], bool],
        copies: Callable[[int], int],
        *,
        ahead: int | None = None,
    ) -> list[int]:
        """Pieces to show ``peer`` now (send ``have`` for each), until ``ahead`` (default
        :attr:`ahead`) wait for its requests.

        ``has(i)``: the peer announced piece i; ``copies(i)``: how many peers announced it."""
        shown, waiting = self._shown[peer], self._waiting[peer]
        limit = self.ahead if ahead is None else ahead
        out: list[int] = []
        while len(waiting) < limit:
            index = self._fresh(shown, has)
            if index < 0:
                index = self._fewest_copies(shown, has, copies, in_flight_too=not waiting)
            if index < 0:
                break
            shown.add(index)
            waiting.add(index)
            self.given[index] += 1
            out.append(index)
        return out

    def _fresh(self, shown: set[int], has: Callable[[int], bool]) -> int:
        """The lowest piece never given (or given back) that the peer lacks, or -1."""
        skipped: list[int] = []
        found = -1
        while self._returned:
            index = heapq.heappop(self._returned)
            if self.given[index] != 0:
                continue  # given again since (a stale heap entry)
            if index in shown or has(index):
                skipped.append(index)
                continue
            found = index
            break
        for index in skipped:
            heapq.heappush(self._returned, index)
        if found >= 0:
            return found
        fresh = self._never_given
        while fresh:
            at = bisect_left(fresh, self._cursor)
            index = fresh.pop(at if at < len(fresh) else 0)
            self._cursor = index + 1
            if index in shown or has(index):
                continue  # someone has it already (from another seed): not fresh for us
            return index
        return -1

    def _fewest_copies(
        self,
        shown: set[int],
        has: Callable[[int], bool],
        copies: Callable[[int], int],
        *,
        in_flight_too: bool,
    ) -> int:
        """Every piece was given: the one the peer lacks with the fewest copies announced
        by peers, or -1. A piece no one announced yet is still on its way to whoever was
        given it: shown again only when nothing else is left (its taker may have left),
        and only to a peer with nothing else of ours to ask for (``in_flight_too``):
        one that has may well hear of a copy elsewhere before it needs this one."""
        best, best_key = -1, (True, self.num_pieces + 1, 0)
        for index in range(self.num_pieces):
            if index in shown or has(index):
                continue
            n = copies(index)
            if n == 0 and not in_flight_too:
                continue
            key = (n == 0, n, self.given[index])
            if key < best_key:
                best, best_key = index, key
        return best
