"""Pure piece/block picker: partial pieces first, then rarest-first, then end-game.

This module does no I/O, reads no clock and owns no task; randomness comes from an
injected :class:`random.Random`. The asyncio swarm layer calls it on every message.

Data model
----------
* A piece is HAVE (verified), DOWNLOADING (at least one block is not FREE) or free
  (every block FREE). Only downloading pieces store per-block state.
* Every block is FREE, REQUESTED (by one peer, or several during end-game),
  RECEIVED (awaiting the SHA-1 check of its piece) or VERIFIED.
* Availability counts the peers that announced a piece with a bitfield or ``have``.
  Peers that have everything (``add_peer_have_all``) are counted once in ``_seeds``
  instead, so a seed joining or leaving costs O(1) and does not change rarity order.
* Free pieces live in ``_order``, grouped by availability: bucket ``a`` is the slice
  ``_order[_bstart[a]:_bstart[a + 1]]``. Moving a piece between neighbouring buckets
  is one swap; inserting or removing costs one swap per bucket (buckets <= peers).
  Picking scans the buckets from the rarest, starting at a random offset inside each
  bucket, so equally rare pieces are chosen in random order.
* Exception: while every connected peer is a seed, nobody can trade pieces with us, so
  there is no diversity to keep: free pieces are taken lowest index first. The download
  then grows a verified prefix from piece 0, which the whole-file SHA1 follows
  (``verified_prefix``) instead of reading the file again once it is complete.
* A *solo* piece (``set_solo``) comes from one peer only: after a failed hash check,
  a copy from a single peer tells who sent the bad blocks (see ``blame``). Only its
  owner picks its blocks, first of all; it is never picked as a free piece by others.

Errors: ``ValueError`` means the arguments break the torrent's geometry (typically a
peer sent a bad index: drop it); ``KeyError`` means an unknown peer (a caller bug).
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable
from enum import IntEnum
from itertools import chain
from typing import NamedTuple, NoReturn

__all__ = ["DEFAULT_BLOCK_SIZE", "Block", "BlockState", "PiecePicker"]

DEFAULT_BLOCK_SIZE = 16384


class Block(NamedTuple):
    """One request unit: ``length`` bytes at ``begin`` inside piece ``index``."""

    index: int  # type: ignore[assignment]  # shadows tuple.index; the wire name wins
    begin: int
    length: int


class BlockState(IntEnum):
    FREE = 0
    REQUESTED = 1
    RECEIVED = 2
    VERIFIED = 3


# Plain ints for the hot paths (bytearray items are ints).
_FREE = 0
_REQUESTED = 1
_RECEIVED = 2


class _Downloading:
    """Per-block state of a piece that has at least one non-FREE block."""

    __slots__ = ("num_free", "num_received", "num_requested", "requesters", "senders", "states")

    def __init__(self, num_blocks: int) -> None:
        self.states = bytearray(num_blocks)  # all _FREE
        self.requesters: list[list[Hashable]] = [[] for _ in range(num_blocks)]
        self.senders: list[Hashable | None] = [None] * num_blocks
        self.num_free = num_blocks
        self.num_requested = 0
        self.num_received = 0


class _Peer:
    __slots__ = ("pieces", "requests", "wanted")

    def __init__(self, pieces: bytearray | None, wanted: int) -> None:
        self.pieces = pieces  # None: the peer has every piece
        self.requests: set[Block] = set()
        self.wanted = wanted  # number of pieces it has that we lack


def _fail(message: str) -> NoReturn:
    raise AssertionError(message)


class PiecePicker:
    """Decides which blocks to request from which peer; tracks every block's state."""

    def __init__(
        self,
        num_pieces: int,
        piece_length: int,
        total_length: int,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        rng: random.Random | None = None,
        have: Iterable[int] = (),
    ) -> None:
        if piece_length <= 0 or block_size <= 0:
            raise ValueError("piece_length and block_size must be positive")
        if total_length < 0:
            raise ValueError("total_length must not be negative")
        expected = -(-total_length // piece_length)
        if num_pieces != expected:
            raise ValueError(
                f"{total_length} bytes in pieces of {piece_length} make {expected} pieces, "
                f"not {num_pieces}"
            )
        self.num_pieces = num_pieces
        self.piece_length = piece_length
        self.total_length = total_length
        self.block_size = block_size
        self._rng = rng if rng is not None else random.Random()
        self._blocks_per_piece = -(-piece_length // block_size)
        self._last_piece_size = total_length - (num_pieces - 1) * piece_length if num_pieces else 0
        self._last_piece_blocks = -(-self._last_piece_size // block_size)

        self._have = bytearray(num_pieces)
        for index in have:
            self._check_index(index)
            self._have[index] = 1
        self._num_have = sum(self._have)
        self._avail = [0] * num_pieces
        self._seeds = 0
        self._peers: dict[Hashable, _Peer] = {}
        self._downloading: dict[int, _Downloading] = {}
        self._open: dict[int, None] = {}  # downloading pieces with FREE blocks, oldest first
        self._num_free_blocks = 0
        self._num_duplicates = 0

        # All free pieces start in bucket 0.
        self._order = [i for i in range(num_pieces) if not self._have[i]]
        self._pos = [-1] * num_pieces
        for p, index in enumerate(self._order):
            self._pos[index] = p
            self._num_free_blocks += self.blocks_in_piece(index)
        self._bstart = [0, len(self._order)]
        self._free_from = 0  # no free piece below this index (see _lowest_free_piece)
        self._solo: dict[int, Hashable] = {}  # piece -> the one peer it may come from
        self._prefix = 0  # pieces 0.._prefix-1 are verified (see verified_prefix)

    # ------------------------------------------------------------------ geometry

    def piece_size(self, index: int) -> int:
        self._check_index(index)
        return self._last_piece_size if index == self.num_pieces - 1 else self.piece_length

    def blocks_in_piece(self, index: int) -> int:
        self._check_index(index)
        return self._last_piece_blocks if index == self.num_pieces - 1 else self._blocks_per_piece

    def block(self, index: int, n: int) -> Block:
        """The ``n``-th block of piece ``index``."""
        if not 0 <= n < self.blocks_in_piece(index):
            raise ValueError(f"piece {index} has no block {n}")
        return self._block(index, n)

    def blocks_of(self, index: int) -> list[Block]:
        return [self._block(index, n) for n in range(self.blocks_in_piece(index))]

    def _block(self, index: int, n: int) -> Block:
        begin = n * self.block_size
        size = self._last_piece_size if index == self.num_pieces - 1 else self.piece_length
        return Block(index, begin, min(self.block_size, size - begin))

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.num_pieces:
            raise ValueError(f"piece index {index} out of range (0..{self.num_pieces - 1})")

    def _locate(self, block: Block) -> tuple[int, int]:
        """(piece index, block number) of a well-formed block, else ValueError."""
        index, begin, length = block
        self._check_index(index)
        bs = self.block_size
        if begin < 0 or begin % bs:
            raise ValueError(f"block offset {begin} is not a multiple of {bs}")
        size = self._last_piece_size if index == self.num_pieces - 1 else self.piece_length
        if begin >= size or length != min(bs, size - begin):
            raise ValueError(f"{block} does not match the piece geometry")
        n = begin // bs
        return index, n

    # ------------------------------------------------------------------ peers

    def add_peer(self, peer: Hashable, pieces: Iterable[int]) -> None:
        """A peer connected and announced ``pieces`` (its bitfield; may be empty)."""
        if peer in self._peers:
            raise ValueError(f"peer {peer!r} already added")
        bits = bytearray(self.num_pieces)
        for index in pieces:
            self._check_index(index)
            bits[index] = 1
        wanted = 0
        for index, bit in enumerate(bits):
            if bit:
                self._inc_avail(index)
                if not self._have[index]:
                    wanted += 1
        self._peers[peer] = _Peer(bits, wanted)

    def add_peer_have_all(self, peer: Hashable) -> None:
        """A peer connected that has every piece (full bitfield or HaveAll)."""
        if peer in self._peers:
            raise ValueError(f"peer {peer!r} already added")
        self._seeds += 1
        self._peers[peer] = _Peer(None, self.num_pieces - self._num_have)

    def peer_has(self, peer: Hashable, index: int) -> None:
        """The peer sent ``have index``. Repeats are harmless."""
        info = self._peers[peer]
        self._check_index(index)
        if info.pieces is None or info.pieces[index]:
            return
        info.pieces[index] = 1
        self._inc_avail(index)
        if not self._have[index]:
            info.wanted += 1

    def remove_peer(self, peer: Hashable) -> list[Block]:
        """The peer left: release its requests, drop its availability.

        Returns the blocks that were outstanding with it."""
        released = self.cancel_all(peer)
        for index in [i for i, owner in self._solo.items() if owner == peer]:
            del self._solo[index]
        info = self._peers.pop(peer)
        if info.pieces is None:
            self._seeds -= 1
        else:
            for index, bit in enumerate(info.pieces):
                if bit:
                    self._dec_avail(index)
        return released

    def cancel_all(self, peer: Hashable) -> list[Block]:
        """Forget every outstanding request to ``peer`` (it choked us, or we cancel)."""
        info = self._peers[peer]
        released = sorted(info.requests)
        info.requests.clear()
        for block in released:
            index, n = self._locate(block)
            self._unrequest(peer, index, n)
        return released

    def on_request_rejected(self, peer: Hashable, block: Block) -> bool:
        """The peer rejected ``block``; False if it was not outstanding with it."""
        info = self._peers[peer]
        if block not in info.requests:
            return False
        info.requests.remove(block)
        index, n = self._locate(block)
        self._unrequest(peer, index, n)
        return True

    def on_request_cancelled(self, peer: Hashable, block: Block) -> bool:
        """We cancelled ``block`` with ``peer``; False if it was not outstanding with it."""
        return self.on_request_rejected(peer, block)

    def _unrequest(self, peer: Hashable, index: int, n: int) -> None:
        """Drop ``peer`` from the requesters of a block; FREE it if nobody is left."""
        dp = self._downloading[index]
        requesters = dp.requesters[n]
        requesters.remove(peer)
        if requesters:
            return
        dp.states[n] = _FREE
        dp.num_requested -= 1
        dp.num_free += 1
        self._num_free_blocks += 1
        if dp.num_free == len(dp.states):
            # Nothing started any more: back among the free pieces, by rarity.
            del self._downloading[index]
            self._open.pop(index, None)
            self._order_insert(index)
        elif index not in self._open:
            self._open[index] = None

    # ------------------------------------------------------------------ picking

    def pick(self, peer: Hashable, max_blocks: int) -> list[Block]:
        """Blocks to request from ``peer`` now (at most ``max_blocks``); marks them REQUESTED.

        Order: FREE blocks of pieces already started; then FREE blocks of the rarest
        free pieces the peer has (random among equally rare; lowest index first while
        every peer is a seed); then, in end-game only, blocks already requested from
        other peers (fewest requesters first)."""
        info = self._peers[peer]
        out: list[Block] = []
        if max_blocks <= 0 or info.wanted == 0:
            return out
        pieces = info.pieces
        solo = self._solo
        if solo:
            self._pick_solo(peer, info, out, max_blocks)

        if self._open:
            filled = []
            for index in self._open:
                if (pieces is not None and not pieces[index]) or (solo and index in solo):
                    continue
                dp = self._downloading[index]
                self._take(peer, info, index, dp, out, max_blocks)
                if dp.num_free == 0:
                    filled.append(index)
                if len(out) >= max_blocks:
                    break
            for index in filled:
                del self._open[index]

        while len(out) < max_blocks and self._order:
            index = self._find_free_piece(pieces)
            if index < 0:
                break
            self._order_remove(index)
            dp = _Downloading(self.blocks_in_piece(index))
            self._downloading[index] = dp
            self._take(peer, info, index, dp, out, max_blocks)
            if dp.num_free:
                self._open[index] = None

        if len(out) < max_blocks and self.in_end_game:
            self._pick_end_game(peer, info, out, max_blocks)
        return out

    def _pick_solo(self, peer: Hashable, info: _Peer, out: list[Block], max_blocks: int) -> None:
        """The FREE blocks of the solo pieces ``peer`` owns, before anything else."""
        for index, owner in self._solo.items():
            if owner != peer or len(out) >= max_blocks:
                continue
            dp = self._downloading.get(index)
            if dp is None:  # a free piece: start it
                self._order_remove(index)
                dp = self._downloading[index] = _Downloading(self.blocks_in_piece(index))
            self._take(peer, info, index, dp, out, max_blocks)
            if dp.num_free:
                self._open[index] = None
            else:
                self._open.pop(index, None)

    def _take(
        self,
        peer: Hashable,
        info: _Peer,
        index: int,
        dp: _Downloading,
        out: list[Block],
        max_blocks: int,
    ) -> None:
        states = dp.states
        taken = 0
        n = states.find(_FREE)
        while n >= 0 and len(out) < max_blocks:
            states[n] = _REQUESTED
            dp.requesters[n].append(peer)
            block = self._block(index, n)
            info.requests.add(block)
            out.append(block)
            taken += 1
            n = states.find(_FREE, n + 1)
        dp.num_free -= taken
        dp.num_requested += taken
        self._num_free_blocks -= taken

    def _find_free_piece(self, pieces: bytearray | None) -> int:
        """A rarest free piece among ``pieces`` (None: any), or -1."""
        order, bstart, rng, solo = self._order, self._bstart, self._rng, self._solo
        if pieces is None:
            if self._seeds == len(self._peers):
                return self._lowest_free_piece()
            first = 0
        else:
            first = 1  # a piece in bucket 0 is announced by no bitfield peer: not by this one
        for b in range(first, len(bstart) - 1):
            lo, hi = bstart[b], bstart[b + 1]
            if lo == hi:
                continue
            start = lo + rng.randrange(hi - lo)
            for p in chain(range(start, hi), range(lo, start)):
                index = order[p]
                if (pieces is None or pieces[index]) and not (solo and index in solo):
                    return index
        return -1

    def _lowest_free_piece(self) -> int:
        """The free piece of lowest index, or -1 (amortised O(1): the hint only moves
        back when a piece becomes free again)."""
        pos, n = self._pos, self.num_pieces
        i = self._free_from
        while i < n and pos[i] < 0:
            i += 1
        self._free_from = i
        while i < n and (pos[i] < 0 or i in self._solo):  # solo pieces go to their owner
            i += 1
        return i if i < n else -1

    @property
    def in_end_game(self) -> bool:
        """True when no FREE block can be had from any connected peer, yet pieces are missing.

        That includes the textbook case (every missing block requested or received) and
        the case where the only FREE blocks belong to pieces no connected peer has."""
        if self._num_have == self.num_pieces:
            return False
        if self._num_free_blocks == 0:
            return True
        if self._seeds:
            return False
        if self._bstart[1] < len(self._order):  # a free piece with availability >= 1
            return False
        return all(self._avail[index] == 0 for index in self._open)

    def _pick_end_game(
        self, peer: Hashable, info: _Peer, out: list[Block], max_blocks: int
    ) -> None:
        pieces = info.pieces
        candidates: list[tuple[int, int, int]] = []
        for index, dp in self._downloading.items():
            if dp.num_requested == 0 or (pieces is not None and not pieces[index]):
                continue
            if self._solo.get(index, peer) != peer:
                continue
            for n, requesters in enumerate(dp.requesters):
                if requesters and peer not in requesters:
                    candidates.append((len(requesters), index, n))
        candidates.sort()
        for _, index, n in candidates[: max_blocks - len(out)]:
            self._downloading[index].requesters[n].append(peer)
            block = self._block(index, n)
            info.requests.add(block)
            out.append(block)

    # ------------------------------------------------------------------ data arrives

    def on_block_received(self, peer: Hashable, block: Block) -> list[Hashable]:
        """``peer`` delivered ``block``: mark it RECEIVED.

        Returns the other peers that still had it requested (send them ``cancel``).
        A block nobody requested, or one already received or verified, is ignored,
        counted in :attr:`num_duplicates`, and gives ``[]``; use :meth:`wants` first
        to decide whether to store the data, or :meth:`receive`. ``peer`` need not be
        registered."""
        return self.receive(peer, block) or []

    def receive(self, peer: Hashable, block: Block) -> list[Hashable] | None:
        """:meth:`on_block_received`, but None for a block that was not wanted: one
        lookup per block instead of two on the download's hot path."""
        index, n = self._locate(block)
        dp = self._downloading.get(index)
        if (
            dp is None
            or dp.states[n] != _REQUESTED
            or (self._solo and not self._may_send(peer, index))
        ):
            self._num_duplicates += 1
            return None
        requesters = dp.requesters[n]
        others = []
        for p in requesters:
            self._peers[p].requests.discard(block)
            if p != peer:
                others.append(p)
        requesters.clear()
        dp.states[n] = _RECEIVED
        dp.senders[n] = peer
        dp.num_requested -= 1
        dp.num_received += 1
        return others

    def _may_send(self, peer: Hashable, index: int) -> bool:
        """A solo piece is taken from its owner only."""
        return self._solo.get(index, peer) == peer

    def wants(self, block: Block) -> bool:
        """Whether :meth:`on_block_received` would accept ``block`` (it is REQUESTED;
        a block of a solo piece from its owner only)."""
        index, n = self._locate(block)
        dp = self._downloading.get(index)  # verified pieces are not downloading
        return dp is not None and dp.states[n] == _REQUESTED

    def block_state(self, block: Block) -> BlockState:
        index, n = self._locate(block)
        if self._have[index]:
            return BlockState.VERIFIED
        dp = self._downloading.get(index)
        return BlockState.FREE if dp is None else BlockState(dp.states[n])

    def piece_complete(self, index: int) -> bool:
        """Every block RECEIVED and the piece not yet verified: check its hash now."""
        self._check_index(index)
        dp = self._downloading.get(index)
        return dp is not None and dp.num_received == len(dp.states)

    def contributors(self, index: int) -> set[Hashable]:
        """Peers that delivered blocks of a downloading piece (before a failed hash check)."""
        self._check_index(index)
        dp = self._downloading.get(index)
        return set() if dp is None else {p for p in dp.senders if p is not None}

    def senders(self, index: int) -> list[Hashable | None]:
        """Per block of a downloading piece, the peer that delivered it (None: not yet)."""
        self._check_index(index)
        dp = self._downloading.get(index)
        return [None] * self.blocks_in_piece(index) if dp is None else list(dp.senders)

    # ------------------------------------------------------------------ solo pieces

    def set_solo(self, index: int, peer: Hashable) -> list[tuple[Hashable, Block]]:
        """From now on piece ``index`` comes from ``peer`` alone.

        Blocks other peers delivered are FREE again; requests of the piece outstanding
        with other peers are forgotten and returned (send them ``cancel``)."""
        self._check_index(index)
        info = self._peers[peer]
        if self._have[index]:
            raise ValueError(f"piece {index} is verified already")
        if info.pieces is not None and not info.pieces[index]:
            raise ValueError(f"peer {peer!r} does not have piece {index}")
        self._solo[index] = peer
        dp = self._downloading.get(index)
        if dp is None:
            return []
        for n, sender in enumerate(dp.senders):
            if sender is not None and sender != peer:
                dp.states[n] = _FREE
                dp.senders[n] = None
                dp.num_received -= 1
                dp.num_free += 1
                self._num_free_blocks += 1
                self._open[index] = None
        released = []
        for n, requesters in enumerate(dp.requesters):
            for who in [p for p in requesters if p != peer]:
                block = self._block(index, n)
                self._peers[who].requests.discard(block)
                released.append((who, block))
                self._unrequest(who, index, n)  # last one out: the piece is free again
        if index in self._downloading and dp.num_free == len(dp.states):
            del self._downloading[index]
            self._open.pop(index, None)
            self._order_insert(index)
        return released

    def clear_solo(self, index: int) -> None:
        """Any peer may deliver piece ``index`` again."""
        self._solo.pop(index, None)

    def solo_owner(self, index: int) -> Hashable | None:
        return self._solo.get(index)

    def peer_has_piece(self, peer: Hashable, index: int) -> bool:
        self._check_index(index)
        pieces = self._peers[peer].pieces
        return pieces is None or bool(pieces[index])

    def on_piece_verified(self, index: int) -> None:
        """The hash matched: the piece is HAVE. Requires :meth:`piece_complete`."""
        if not self.piece_complete(index):
            raise ValueError(f"piece {index} is not complete; cannot mark it verified")
        del self._downloading[index]
        self._solo.pop(index, None)
        self._have[index] = 1
        self._num_have += 1
        for info in self._peers.values():
            if info.pieces is None or info.pieces[index]:
                info.wanted -= 1

    def on_piece_failed(self, index: int) -> None:
        """The hash did not match: every block is FREE again. Requires :meth:`piece_complete`."""
        if not self.piece_complete(index):
            raise ValueError(f"piece {index} is not complete; cannot mark it failed")
        dp = self._downloading.pop(index)
        self._solo.pop(index, None)
        self._num_free_blocks += len(dp.states)
        self._order_insert(index)

    # ------------------------------------------------------------------ queries

    @property
    def num_have(self) -> int:
        return self._num_have

    @property
    def is_complete(self) -> bool:
        return self._num_have == self.num_pieces

    @property
    def num_duplicates(self) -> int:
        """Blocks received that were not wanted (unrequested, received or verified)."""
        return self._num_duplicates

    @property
    def num_free_blocks(self) -> int:
        return self._num_free_blocks

    def has_piece(self, index: int) -> bool:
        self._check_index(index)
        return bool(self._have[index])

    def missing_pieces(self) -> list[int]:
        return [i for i, bit in enumerate(self._have) if not bit]

    def verified_prefix(self) -> int:
        """How many pieces from piece 0 on are verified without a gap."""
        i = self._have.find(0, self._prefix)  # verified pieces stay verified
        self._prefix = self.num_pieces if i < 0 else i
        return self._prefix

    def have_list(self) -> list[bool]:
        return [bool(bit) for bit in self._have]

    def availability(self, index: int) -> int:
        """How many connected peers have piece ``index``."""
        self._check_index(index)
        return self._avail[index] + self._seeds

    def requests_of(self, peer: Hashable) -> frozenset[Block]:
        return frozenset(self._peers[peer].requests)

    def interesting(self, peer: Hashable) -> bool:
        """The peer has a piece we lack (we should be interested)."""
        return self._peers[peer].wanted > 0

    def peers(self) -> list[Hashable]:
        return list(self._peers)

    # ------------------------------------------------------------------ buckets

    def _inc_avail(self, index: int) -> None:
        a = self._avail[index]
        self._avail[index] = a + 1
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

    def _dec_avail(self, index: int) -> None:
        a = self._avail[index]
        self._avail[index] = a - 1
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

    def _order_insert(self, index: int) -> None:
        a = self._avail[index]
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

    def _order_remove(self, index: int) -> None:
        order, pos, bstart = self._order, self._pos, self._bstart
        p = pos[index]
        # Bubble up to the end of the array: swap with the last slot, grow the next bucket.
        for b in range(self._avail[index], len(bstart) - 1):
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

    def check_invariants(self) -> None:
        """Raise AssertionError if any internal count disagrees with the per-block states."""
        n = self.num_pieces
        if self._num_have != sum(self._have):
            _fail("num_have disagrees with the have bitmap")

        # Availability equals the sum over peers; wanted counts match.
        avail = [0] * n
        seeds = 0
        for peer, info in self._peers.items():
            if info.pieces is None:
                seeds += 1
                wanted = n - self._num_have
            else:
                if len(info.pieces) != n or any(b not in (0, 1) for b in info.pieces):
                    _fail(f"bad bitfield for {peer!r}")
                wanted = 0
                for i, bit in enumerate(info.pieces):
                    if bit:
                        avail[i] += 1
                        wanted += not self._have[i]
            if info.wanted != wanted:
                _fail(f"wanted count of {peer!r} is {info.wanted}, expected {wanted}")
        if avail != self._avail:
            _fail("availability disagrees with peer bitfields")
        if seeds != self._seeds:
            _fail("seed count disagrees with peers")

        # Bucketed order: exactly the free pieces, each in the bucket of its availability.
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
                if self._avail[i] != b:
                    _fail(f"piece {i} with availability {self._avail[i]} in bucket {b}")
        if order and min(order) < self._free_from:
            _fail(f"free piece {min(order)} below the hint {self._free_from}")
        if self._have[: self._prefix].count(0):
            _fail(f"verified prefix {self._prefix} has a gap")
        for i in range(n):
            free_piece = not self._have[i] and i not in self._downloading
            if free_piece != (pos[i] >= 0):
                _fail(f"piece {i}: free={free_piece} but pos={pos[i]}")
            if self._have[i] and i in self._downloading:
                _fail(f"piece {i} both verified and downloading")

        # Per-block states of downloading pieces.
        free_blocks = sum(self.blocks_in_piece(i) for i in order)
        requests: dict[Hashable, set[Block]] = {peer: set() for peer in self._peers}
        for i, dp in self._downloading.items():
            if len(dp.states) != self.blocks_in_piece(i):
                _fail(f"piece {i} has {len(dp.states)} block states")
            counts = [0, 0, 0]
            for k, state in enumerate(dp.states):
                if state not in (_FREE, _REQUESTED, _RECEIVED):
                    _fail(f"block {k} of piece {i} in state {state}")
                counts[state] += 1
                requesters = dp.requesters[k]
                if (state == _REQUESTED) != bool(requesters):
                    _fail(f"block {k} of piece {i}: state {state}, requesters {requesters}")
                if len(set(requesters)) != len(requesters):
                    _fail(f"block {k} of piece {i} requested twice from one peer")
                if (state == _RECEIVED) != (dp.senders[k] is not None):
                    _fail(f"block {k} of piece {i}: state {state}, sender {dp.senders[k]!r}")
                for who in requesters:
                    if who not in requests:
                        _fail(f"block {k} of piece {i} requested from unknown peer {who!r}")
                    info = self._peers[who]
                    if info.pieces is not None and not info.pieces[i]:
                        _fail(f"piece {i} requested from {who!r}, which lacks it")
                    requests[who].add(self._block(i, k))
            if counts != [dp.num_free, dp.num_requested, dp.num_received]:
                _fail(f"piece {i} counts {counts} disagree with its counters")
            if dp.num_free == len(dp.states):
                _fail(f"piece {i} downloading with every block free")
            if (dp.num_free > 0) != (i in self._open):
                _fail(f"piece {i}: {dp.num_free} free blocks, open={i in self._open}")
            free_blocks += dp.num_free
        if any(i not in self._downloading for i in self._open):
            _fail("open piece not downloading")
        if free_blocks != self._num_free_blocks:
            _fail(f"num_free_blocks {self._num_free_blocks}, counted {free_blocks}")
        for peer, info in self._peers.items():
            if info.requests != requests[peer]:
                _fail(f"requests of {peer!r} disagree with block requesters")
        self._check_solo()

    def _check_solo(self) -> None:
        for i, owner in self._solo.items():
            if self._have[i]:
                _fail(f"solo piece {i} is verified")
            info = self._peers.get(owner)
            if info is None:
                _fail(f"solo piece {i} owned by unknown peer {owner!r}")
            if info.pieces is not None and not info.pieces[i]:
                _fail(f"solo piece {i} owned by {owner!r}, which lacks it")
            dp = self._downloading.get(i)
            if dp is None:
                continue
            for k in range(len(dp.states)):
                if any(who != owner for who in dp.requesters[k]):
                    _fail(f"block {k} of solo piece {i} requested from another peer")
                if dp.senders[k] not in (None, owner):
                    _fail(f"block {k} of solo piece {i} delivered by another peer")
