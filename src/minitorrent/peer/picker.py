"""Pure piece/block picker: partial pieces first, then rarest-first, then end-game.

This module does no I/O, reads no clock and owns no task; randomness comes from an
injected :class:`random.Random`. The asyncio swarm layer calls it on every message.

The picker is layered, one job per module:

* :mod:`~minitorrent.peer.piece_geometry`: pieces and blocks of the torrent;
* :mod:`~minitorrent.peer.rarity`: availability of each piece and the free pieces in
  rarity buckets;
* :mod:`~minitorrent.peer.picker_book`: per-block states, each peer's pieces and
  requests, the read-only queries and the invariants;
* this module: the decisions (what to request from whom, what a received block, a
  hash check or a departing peer changes).

Order of picking: FREE blocks of pieces already started, then the rarest free pieces
(random among equally rare). Exception: while every connected peer is a seed, nobody
can trade pieces with us, so there is no diversity to keep: free pieces are taken
lowest index first. The download then grows a verified prefix from piece 0, which the
whole-file SHA1 follows (``verified_prefix``) instead of reading the file again once
it is complete.

End-game (every missing block requested) asks an idle peer for a few blocks already
requested elsewhere; nothing else ever asks twice: a copy costs the upload of a peer
others wait for.

A *solo* piece (``set_solo``) comes from one peer only: after a failed hash check, a
copy from a single peer tells who sent the bad blocks (see ``blame``). Only its owner
picks its blocks, first of all; it is never picked as a free piece by others.

Errors: ``ValueError`` means the arguments break the torrent's geometry (typically a
peer sent a bad index: drop it); ``KeyError`` means an unknown peer (a caller bug).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from minitorrent.peer.picker_book import (
    FREE,
    RECEIVED,
    REQUESTED,
    Downloading,
    PeerRecord,
    PickerBook,
)
from minitorrent.peer.piece_geometry import DEFAULT_BLOCK_SIZE, Block, BlockState

__all__ = ["DEFAULT_BLOCK_SIZE", "END_GAME_BLOCKS", "Block", "BlockState", "PiecePicker"]

END_GAME_BLOCKS = 4
"""End-game requests to a peer at a time, and only once nothing else is outstanding with
it: a block asked of two peers usually leaves both (the first copy's cancel comes too
late), so each copy costs a peer's upload that others were waiting for."""


class PiecePicker(PickerBook):
    """Decides which blocks to request from which peer; tracks every block's state."""

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
                self._rarity.inc(index)
                if self._lack[index]:
                    wanted += 1
        self._peers[peer] = PeerRecord(bits, wanted)

    def add_peer_have_all(self, peer: Hashable) -> None:
        """A peer connected that has every piece (full bitfield or HaveAll)."""
        if peer in self._peers:
            raise ValueError(f"peer {peer!r} already added")
        self._rarity.seeds += 1
        self._peers[peer] = PeerRecord(None, self._num_lack)

    def peer_has(self, peer: Hashable, index: int) -> None:
        """The peer sent ``have index``. Repeats are harmless."""
        info = self._peers[peer]
        self._check_index(index)
        if info.pieces is None or info.pieces[index]:
            return
        info.pieces[index] = 1
        self._rarity.inc(index)
        if self._lack[index]:
            info.wanted += 1

    def remove_peer(self, peer: Hashable) -> list[Block]:
        """The peer left: release its requests, drop its availability.

        Returns the blocks that were outstanding with it."""
        released = self.cancel_all(peer)
        for index in [i for i, owner in self._solo.items() if owner == peer]:
            del self._solo[index]
        info = self._peers.pop(peer)
        if info.pieces is None:
            self._rarity.seeds -= 1
        else:
            for index, bit in enumerate(info.pieces):
                if bit:
                    self._rarity.dec(index)
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
        dp.states[n] = FREE
        dp.num_requested -= 1
        dp.num_free += 1
        self._num_free_blocks += 1
        if dp.num_free == len(dp.states):
            # Nothing started any more: back among the free pieces, by rarity.
            del self._downloading[index]
            self._open.pop(index, None)
            self._rarity.insert(index)
        elif index not in self._open:
            self._open[index] = None

    # ------------------------------------------------------------------ picking

    def pick(self, peer: Hashable, max_blocks: int) -> list[Block]:
        """Blocks to request from ``peer`` now (at most ``max_blocks``); marks them REQUESTED.

        Order: FREE blocks of pieces already started; then FREE blocks of the rarest
        free pieces the peer has (random among equally rare; lowest index first while
        every peer is a seed); then, in end-game only and only once nothing is
        outstanding with ``peer``, up to :data:`END_GAME_BLOCKS` blocks already
        requested from other peers (see :meth:`pick_duplicates`)."""
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

        while len(out) < max_blocks and self._rarity:
            index = self._find_free_piece(pieces)
            if index < 0:
                break
            self._rarity.remove(index)
            dp = Downloading(self.blocks_in_piece(index))
            self._downloading[index] = dp
            self._take(peer, info, index, dp, out, max_blocks)
            if dp.num_free:
                self._open[index] = None

        if len(out) < max_blocks and self.in_end_game and not info.requests:
            self._pick_end_game(peer, info, out, min(max_blocks, END_GAME_BLOCKS))
        return out

    def pick_duplicates(self, peer: Hashable, max_blocks: int) -> list[Block]:
        """Blocks already requested from other peers, to request from ``peer`` too (at
        most ``max_blocks``; fewest requesters first, those the other peers would send
        last first). For the caller that sees a download stall (:attr:`starved`): the
        picker itself duplicates only in end-game, see :meth:`pick`."""
        info = self._peers[peer]
        out: list[Block] = []
        if max_blocks > 0:
            self._pick_end_game(peer, info, out, max_blocks)
        return out

    def _pick_solo(
        self, peer: Hashable, info: PeerRecord, out: list[Block], max_blocks: int
    ) -> None:
        """The FREE blocks of the solo pieces ``peer`` owns, before anything else."""
        for index, owner in self._solo.items():
            if owner != peer or len(out) >= max_blocks:
                continue
            dp = self._downloading.get(index)
            if dp is None:  # a free piece: start it
                self._rarity.remove(index)
                dp = self._downloading[index] = Downloading(self.blocks_in_piece(index))
            self._take(peer, info, index, dp, out, max_blocks)
            if dp.num_free:
                self._open[index] = None
            else:
                self._open.pop(index, None)

    def _take(
        self,
        peer: Hashable,
        info: PeerRecord,
        index: int,
        dp: Downloading,
        out: list[Block],
        max_blocks: int,
    ) -> None:
        states = dp.states
        taken = 0
        n = states.find(FREE)
        while n >= 0 and len(out) < max_blocks:
            states[n] = REQUESTED
            dp.requesters[n].append(peer)
            block = self._block(index, n)
            info.requests.add(block)
            out.append(block)
            taken += 1
            n = states.find(FREE, n + 1)
        dp.num_free -= taken
        dp.num_requested += taken
        self._num_free_blocks -= taken

    def _find_free_piece(self, pieces: bytearray | None) -> int:
        """A rarest free piece among ``pieces`` (None: any) that is not solo, or -1."""
        if pieces is None and self._rarity.seeds == len(self._peers):
            return self._rarity.lowest(self._solo)  # every peer a seed: in order
        return self._rarity.rarest(pieces, self._solo)

    @property
    def in_end_game(self) -> bool:
        """Every missing block is requested or received, yet pieces are missing."""
        return bool(self._num_lack) and self._num_free_blocks == 0

    @property
    def starved(self) -> bool:
        """Blocks are FREE, but only in pieces no connected peer has: nothing new can be
        asked of anyone. Often true for a while in a super-seeded swarm (pieces not shown
        yet), so it is no reason to ask twice for a block by itself: a stall is."""
        if not self._num_lack or self._num_free_blocks == 0:
            return False
        if self._rarity.seeds:
            return False
        if self._rarity.any_announced():
            return False
        avail = self._rarity.avail
        return all(avail[index] == 0 for index in self._open)

    def _pick_end_game(
        self, peer: Hashable, info: PeerRecord, out: list[Block], max_blocks: int
    ) -> None:
        """Blocks requested from other peers: fewest requesters first; then those of the
        piece started last, from its last block back: a peer sends what we asked in the
        order we asked, so these would come last, and the copies meet in the middle."""
        pieces = info.pieces
        candidates: list[tuple[int, int, int, int]] = []
        for age, (index, dp) in enumerate(reversed(self._downloading.items())):
            if dp.num_requested == 0 or (pieces is not None and not pieces[index]):
                continue
            if self._solo.get(index, peer) != peer:
                continue
            for n, requesters in enumerate(dp.requesters):
                if requesters and peer not in requesters:
                    candidates.append((len(requesters), age, -n, index))
        candidates.sort()
        for _, _, minus_n, index in candidates[: max_blocks - len(out)]:
            n = -minus_n
            self._downloading[index].requesters[n].append(peer)
            block = self._block(index, n)
            info.requests.add(block)
            out.append(block)
            self._num_end_game += 1

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
            or dp.states[n] != REQUESTED
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
        dp.states[n] = RECEIVED
        dp.senders[n] = peer
        dp.num_requested -= 1
        dp.num_received += 1
        return others

    def _may_send(self, peer: Hashable, index: int) -> bool:
        """A solo piece is taken from its owner only."""
        return self._solo.get(index, peer) == peer

    # ------------------------------------------------------------------ solo pieces

    def set_solo(self, index: int, peer: Hashable) -> list[tuple[Hashable, Block]]:
        """From now on piece ``index`` comes from ``peer`` alone.

        Blocks other peers delivered are FREE again; requests of the piece outstanding
        with other peers are forgotten and returned (send them ``cancel``)."""
        self._check_index(index)
        info = self._peers[peer]
        if self._have[index]:
            raise ValueError(f"piece {index} is verified already")
        if not self._lack[index]:
            raise ValueError(f"piece {index} is not wanted")
        if info.pieces is not None and not info.pieces[index]:
            raise ValueError(f"peer {peer!r} does not have piece {index}")
        self._solo[index] = peer
        dp = self._downloading.get(index)
        if dp is None:
            return []
        for n, sender in enumerate(dp.senders):
            if sender is not None and sender != peer:
                dp.states[n] = FREE
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
            self._rarity.insert(index)
        return released

    def clear_solo(self, index: int) -> None:
        """Any peer may deliver piece ``index`` again."""
        self._solo.pop(index, None)

    def on_piece_verified(self, index: int) -> None:
        """The hash matched: the piece is HAVE. Requires :meth:`piece_complete`."""
        if not self.piece_complete(index):
            raise ValueError(f"piece {index} is not complete; cannot mark it verified")
        del self._downloading[index]
        self._solo.pop(index, None)
        self._have[index] = 1
        self._num_have += 1
        self._lack[index] = 0
        self._num_lack -= 1
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
        self._rarity.insert(index)
