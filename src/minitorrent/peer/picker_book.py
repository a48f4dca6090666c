"""The piece picker's bookkeeping: what we have, what each peer has and was asked,
the per-block state of started pieces; read-only queries and the invariants.

Decisions (what to request, what a received block changes) live in
:mod:`minitorrent.peer.picker`, which builds on this class.

* A piece is HAVE (verified), DOWNLOADING (at least one block is not FREE) or free
  (every block FREE, kept in the :class:`~minitorrent.peer.rarity.RarityOrder`).
  Only downloading pieces store per-block state.
* Every block is FREE, REQUESTED (by one peer, or several during end-game),
  RECEIVED (awaiting the SHA-1 check of its piece) or VERIFIED.
* A *solo* piece comes from one peer only (see ``PiecePicker.set_solo``).

``KeyError`` means an unknown peer (a caller bug).
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable
from typing import NoReturn

from minitorrent.peer.piece_geometry import DEFAULT_BLOCK_SIZE, Block, BlockState, PieceGeometry
from minitorrent.peer.rarity import RarityOrder

__all__ = ["PickerBook"]

# Plain ints for the hot paths (bytearray items are ints).
FREE = 0
REQUESTED = 1
RECEIVED = 2


class Downloading:
    """Per-block state of a piece that has at least one non-FREE block."""

    __slots__ = ("num_free", "num_received", "num_requested", "requesters", "senders", "states")

    def __init__(self, num_blocks: int) -> None:
        self.states = bytearray(num_blocks)  # all FREE
        self.requesters: list[list[Hashable]] = [[] for _ in range(num_blocks)]
        self.senders: list[Hashable | None] = [None] * num_blocks
        self.num_free = num_blocks
        self.num_requested = 0
        self.num_received = 0


class PeerRecord:
    __slots__ = ("pieces", "requests", "wanted")

    def __init__(self, pieces: bytearray | None, wanted: int) -> None:
        self.pieces = pieces  # None: the peer has every piece
        self.requests: set[Block] = set()
        self.wanted = wanted  # number of pieces it has that we lack


def _fail(message: str) -> NoReturn:
    raise AssertionError(message)


class PickerBook(PieceGeometry):
    """Every block's state and every peer's pieces and requests."""

    def __init__(
        self,
        num_pieces: int,
        piece_length: int,
        total_length: int,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        rng: random.Random | None = None,
        have: Iterable[int] = (),
        wanted: Iterable[int] | None = None,
    ) -> None:
        super().__init__(num_pieces, piece_length, total_length, block_size)
        self._have = bytearray(num_pieces)
        for index in have:
            self._check_index(index)
            self._have[index] = 1
        self._num_have = sum(self._have)
        # Pieces wanted and not verified yet: all of them, or those of the files a
        # download selected. Only these are requested; the download is complete when
        # none is left (a partial seed then serves what it has).
        self._lack = bytearray(num_pieces) if wanted is not None else bytearray([1]) * num_pieces
        for index in wanted or ():
            self._check_index(index)
            self._lack[index] = 1
        for index in range(num_pieces):
            if self._have[index]:
                self._lack[index] = 0
        self._num_lack = sum(self._lack)
        # Bytes of the pieces wanted or verified: what progress and `left` count.
        self.wanted_length = (
            total_length
            if wanted is None
            else sum(
                self.piece_size(i) for i in range(num_pieces) if self._lack[i] or self._have[i]
            )
        )
        self._peers: dict[Hashable, PeerRecord] = {}
        self._downloading: dict[int, Downloading] = {}
        self._open: dict[int, None] = {}  # downloading pieces with FREE blocks, oldest first
        self._num_duplicates = 0
        self._num_end_game = 0  # requests of blocks already requested from another peer
        free = [i for i in range(num_pieces) if self._lack[i]]
        self._num_free_blocks = sum(self.blocks_in_piece(i) for i in free)
        self._rarity = RarityOrder(num_pieces, free, rng if rng is not None else random.Random())
        self._solo: dict[int, Hashable] = {}  # piece -> the one peer it may come from
        self._prefix = 0  # pieces 0.._prefix-1 are verified (see verified_prefix)

    # ------------------------------------------------------------------ blocks

    def block_state(self, block: Block) -> BlockState:
        index, n = self._locate(block)
        if self._have[index]:
            return BlockState.VERIFIED
        dp = self._downloading.get(index)
        return BlockState.FREE if dp is None else BlockState(dp.states[n])

    def wants(self, block: Block) -> bool:
        """Whether ``on_block_received`` would accept ``block`` (it is REQUESTED;
        a block of a solo piece from its owner only)."""
        index, n = self._locate(block)
        dp = self._downloading.get(index)  # verified pieces are not downloading
        return dp is not None and dp.states[n] == REQUESTED

    def piece_complete(self, index: int) -> bool:
        """Every block RECEIVED and the piece not yet verified: check its hash now."""
        self._check_index(index)
        dp = self._downloading.get(index)
        return dp is not None and dp.num_received == len(dp.states)

    def senders(self, index: int) -> list[Hashable | None]:
        """Per block of a downloading piece, the peer that delivered it (None: not yet)."""
        self._check_index(index)
        dp = self._downloading.get(index)
        return [None] * self.blocks_in_piece(index) if dp is None else list(dp.senders)

    def solo_owner(self, index: int) -> Hashable | None:
        return self._solo.get(index)

    # ------------------------------------------------------------------ pieces and peers

    @property
    def num_have(self) -> int:
        return self._num_have

    @property
    def is_complete(self) -> bool:
        """Every wanted piece is verified."""
        return self._num_lack == 0

    @property
    def num_missing(self) -> int:
        """Wanted pieces not verified yet."""
        return self._num_lack

    @property
    def num_duplicates(self) -> int:
        """Blocks received that were not wanted (unrequested, received or verified)."""
        return self._num_duplicates

    @property
    def num_end_game_requests(self) -> int:
        """Requests of blocks that were already requested from another peer (end-game)."""
        return self._num_end_game

    @property
    def num_free_blocks(self) -> int:
        return self._num_free_blocks

    def has_piece(self, index: int) -> bool:
        self._check_index(index)
        return bool(self._have[index])

    def missing_pieces(self) -> list[int]:
        """The wanted pieces not verified yet."""
        return [i for i, bit in enumerate(self._lack) if bit]

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
        return self._rarity.availability(index)

    def peer_has_piece(self, peer: Hashable, index: int) -> bool:
        self._check_index(index)
        pieces = self._peers[peer].pieces
        return pieces is None or bool(pieces[index])

    def requests_of(self, peer: Hashable) -> frozenset[Block]:
        return frozenset(self._peers[peer].requests)

    def interesting(self, peer: Hashable) -> bool:
        """The peer has a piece we lack (we should be interested)."""
        return self._peers[peer].wanted > 0

    def peers(self) -> list[Hashable]:
        return list(self._peers)

    # ------------------------------------------------------------------ invariants

    def check_invariants(self) -> None:
        """Raise AssertionError if any internal count disagrees with the per-block states."""
        if self._num_have != sum(self._have):
            _fail("num_have disagrees with the have bitmap")
        if self._num_lack != sum(self._lack):
            _fail("num_missing disagrees with the wanted bitmap")
        if any(self._have[i] and self._lack[i] for i in range(self.num_pieces)):
            _fail("a verified piece is still wanted")
        self._check_peers()
        if self._have[: self._prefix].count(0):
            _fail(f"verified prefix {self._prefix} has a gap")
        for i in range(self.num_pieces):
            free_piece = bool(self._lack[i]) and i not in self._downloading
            if free_piece != self._rarity.is_free(i):
                _fail(f"piece {i}: free={free_piece} but free in order={not free_piece}")
            if not self._lack[i] and i in self._downloading:
                _fail(f"piece {i} downloading but verified or not wanted")
        self._check_blocks()
        self._check_solo()

    def _check_peers(self) -> None:
        """Availability equals the sum over peers; wanted counts match."""
        n = self.num_pieces
        avail = [0] * n
        seeds = 0
        for peer, info in self._peers.items():
            if info.pieces is None:
                seeds += 1
                wanted = self._num_lack
            else:
                if len(info.pieces) != n or any(b not in (0, 1) for b in info.pieces):
                    _fail(f"bad bitfield for {peer!r}")
                wanted = 0
                for i, bit in enumerate(info.pieces):
                    if bit:
                        avail[i] += 1
                        wanted += self._lack[i]
            if info.wanted != wanted:
                _fail(f"wanted count of {peer!r} is {info.wanted}, expected {wanted}")
        self._rarity.check(avail, seeds)

    def _check_blocks(self) -> None:
        """Per-block states of downloading pieces agree with counters and requests."""
        free_blocks = sum(self.blocks_in_piece(i) for i in self._rarity.free_pieces())
        requests: dict[Hashable, set[Block]] = {peer: set() for peer in self._peers}
        for i, dp in self._downloading.items():
            if len(dp.states) != self.blocks_in_piece(i):
                _fail(f"piece {i} has {len(dp.states)} block states")
            counts = [0, 0, 0]
            for k, state in enumerate(dp.states):
                if state not in (FREE, REQUESTED, RECEIVED):
                    _fail(f"block {k} of piece {i} in state {state}")
                counts[state] += 1
                requesters = dp.requesters[k]
                if (state == REQUESTED) != bool(requesters):
                    _fail(f"block {k} of piece {i}: state {state}, requesters {requesters}")
                if len(set(requesters)) != len(requesters):
                    _fail(f"block {k} of piece {i} requested twice from one peer")
                if (state == RECEIVED) != (dp.senders[k] is not None):
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

    def _check_solo(self) -> None:
        for i, owner in self._solo.items():
            if not self._lack[i]:
                _fail(f"solo piece {i} is verified or not wanted")
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
