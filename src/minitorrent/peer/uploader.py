"""The uploading half of a swarm: whom to serve, and serving them.

It decides who is unchoked (the pure choker picks, this applies it), queues
the requests of unchoked peers, refuses those that break the protocol, and
answers them in batches straight from the file. A file changed on disk since it
was hashed is noticed before a piece of it is sent: the seed stops instead.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable
from functools import partial

from minitorrent.peer.choker import OptimisticSlot, PeerStats, choose_unchoked, pick_optimistic
from minitorrent.peer.folder_storage import Storage
from minitorrent.peer.link import PeerLink
from minitorrent.peer.peer_state import PeerState
from minitorrent.peer.picker import PiecePicker
from minitorrent.peer.super_seed import SuperSeed
from minitorrent.wire import messages as m

MAX_QUEUED_REQUESTS = 512  # a peer asking for more than this is misbehaving
CHOKE_INTERVAL = 10.0
# Seconds a super-seeded peer has to become interested in the pieces it was shown before
# it is shown them all (it wants other pieces: part of a folder).
UNINTERESTED_GRACE = 5.0
UPLOAD_SLOTS = 8
# A seed trades nothing, and its upload is the swarm's scarcest: it feeds a few
# downloaders at a time, so that each fresh piece leaves it quickly and downloaders
# start passing pieces on at once. Measured on shaped swarms of 4 to 32 downloaders
# (16 MiB, 20 Mbit/s): time / T_min 1.24, 1.51, 1.82, 1.85 with 4 slots; 1.23, 1.71,
# 2.21, 2.11 with 16 (every fresh piece then crawled out at 1/16 of the seed's rate).
SEED_UPLOAD_SLOTS = 4
SERVE_BUDGET = 2 * 1024 * 1024  # bytes answered per peer per turn


class Uploader:
    def __init__(
        self,
        storage: Storage,
        picker: PiecePicker,
        peers: dict[PeerLink, PeerState],
        *,
        piece_length: int,
        rng: random.Random,
        clock: Callable[[], float],
        on_file_changed: Callable[[str], None],
    ) -> None:
        self.storage = storage
        self.picker = picker  # read only: which pieces we have
        self.peers = peers  # the swarm's, shared
        self.piece_length = piece_length
        self.rng = rng
        self.clock = clock
        self.uploaded = 0  # bytes of blocks sent
        # Pieces whose data on disk we re-hashed before serving them (seeding):
        # a file changed under us is noticed instead of sending bad data.
        self.checked_for_serving: set[int] = set()
        self._trusted_stat: tuple[int, int] | None = None  # see trust_file
        self._on_file_changed = on_file_changed
        self._optimistic: OptimisticSlot | None = None
        self._last_choke = float("-inf")  # the first rechoke is due at once
        self.super_seed = SuperSeed(
            picker.num_pieces, piece_length, start=rng.randrange(max(1, picker.num_pieces))
        )
        self._missing: dict[PeerLink, int] = {}  # pieces a super-seeded peer lacks

    def forget(self, conn: PeerLink) -> None:
        if self._optimistic is not None and self._optimistic.peer is conn:
            self._optimistic = None
        self.super_seed.remove_peer(conn)
        self._missing.pop(conn, None)

    # -- what we show ------------------------------------------------------------------

    def introduce(self, peer: PeerState) -> None:
        """A peer connected to us as a seed: show it no piece, then one, more once we
        unchoke it (see peer/super_seed.py). Peers that connected earlier saw what we had."""
        conn = peer.conn
        if conn.fast:
            conn.send(m.HaveNone())
        # Without the fast extension, no bitfield says "nothing" (BEP 3 allows that).
        self.super_seed.add_peer(conn)
        self._missing[conn] = self.picker.num_pieces
        self._show_more(peer, ahead=1)  # one piece: enough for it to be interested

    def on_have(self, peer: PeerState, index: int, *, new: bool) -> None:
        """The peer has ``index`` (``new``: it did not before), from us or another peer:
        no longer waiting for it."""
        conn = peer.conn
        self.super_seed.announced(conn, index)
        missing = self._missing.get(conn)
        if missing is not None and new:
            self._missing[conn] = missing - 1
            self._drop_if_both_seeds(peer)
        self._show_more(peer)

    def on_bitfield(self, peer: PeerState) -> None:
        """The peer said what it has (once per connection): count what it lacks, and
        show it pieces it lacks if those shown so far are not."""
        conn = peer.conn
        if conn in self._missing:
            has = self.picker.peer_has_piece
            self._missing[conn] = sum(1 for i in range(self.picker.num_pieces) if not has(conn, i))
            self.super_seed.forget_had(conn, lambda i: has(conn, i))
            self._drop_if_both_seeds(peer)
            self._show_more(peer)

    def _drop_if_both_seeds(self, peer: PeerState) -> None:
        """A peer we showed pieces one by one never learnt we are a seed: when it has
        every piece, we close (a seed closes its connections to seeds, as ours do)."""
        if self._missing.get(peer.conn) == 0 and self.picker.is_complete:
            peer.conn.drop("both sides are seeds")

    def _show_more(self, peer: PeerState, *, ahead: int | None = None) -> None:
        """Unchoked: keep ``ahead`` pieces waiting for its requests. Choked: only make
        sure it lacks one piece we showed, so that it stays interested in us."""
        conn = peer.conn
        if not self.super_seed.knows(conn):
            return
        picker = self.picker
        has = partial(picker.peer_has_piece, conn)
        if self.uploaded >= picker.total_length and self.super_seed.all_given:
            # A file's worth sent and every piece given: the last pieces are on their way.
            # Showing the rest keeps downloaders fetching what only we have from us,
            # instead of asking each other twice for blocks already requested (end-game).
            pieces = self.super_seed.show_all(conn, has)
        elif ahead is None and conn.protocol.am_choking:
            if self.super_seed.lacks_shown(conn, has):
                return
            pieces = self.super_seed.top_up(conn, has, picker.availability, ahead=1)
        else:
            pieces = self.super_seed.top_up(conn, has, picker.availability, ahead=ahead)
        _send_haves(conn, pieces)

    def _show_all_if_uninterested(self, peer: PeerState) -> None:
        """A peer shown pieces it lacks that is still not interested wants other pieces
        (part of a folder, ``download_file --only``): which, only it knows, so from the
        next rechoke on it sees them all, as from any seed."""
        conn = peer.conn
        if not self.super_seed.knows(conn) or conn.protocol.peer_interested:
            return
        has = partial(self.picker.peer_has_piece, conn)
        if self.super_seed.lacks_shown(conn, has):
            _send_haves(conn, self.super_seed.show_all(conn, has))

    # -- requests -----------------------------------------------------------------------

    def on_request(self, peer: PeerState, req: m.Request) -> None:
        if peer.conn.protocol.am_choking:
            # Requests sent before our choke reached the peer are legitimate (BEP 3): up
            # to a full queue of them is ignored, or rejected with the fast extension.
            # Before we ever unchoked it, or beyond that, the peer ignores the protocol.
            peer.choked_requests += 1
            if not peer.ever_unchoked or peer.choked_requests > MAX_QUEUED_REQUESTS:
                peer.conn.drop("requested blocks while choked")
            elif peer.conn.fast:
                peer.conn.send(m.Reject(req.index, req.begin, req.length))
            return
        if not self.picker.has_piece(req.index):
            peer.conn.drop("requested a piece we do not have")
            return
        if len(peer.queued) >= MAX_QUEUED_REQUESTS:
            peer.conn.drop("too many queued requests")
            return
        peer.queued.append(req)
        if self.super_seed.requested(peer.conn, req.index):  # taken: show the next one
            self._show_more(peer)

    def on_cancel(self, peer: PeerState, msg: m.Cancel) -> None:
        with contextlib.suppress(ValueError):
            peer.queued.remove(m.Request(msg.index, msg.begin, msg.length))

    def serve(self, peer: PeerState) -> None:
        """Answer queued requests: one buffer, one preadv per run of blocks contiguous in
        the file, one write."""
        conn = peer.conn
        queued = peer.queued
        budget = SERVE_BUDGET
        while queued and conn.writable and budget > 0:
            batch: list[m.Request] = []
            size = 0
            trusted = self._file_unchanged()
            while queued and size < budget:
                req = queued.popleft()
                if not trusted and not self._ready_to_serve(req.index):
                    return
                batch.append(req)
                size += req.length
            buffer, rooms = conn.protocol.piece_frames(batch)
            self._read_blocks(batch, rooms)
            conn.write(buffer)
            peer.uploaded += size
            self.uploaded += size
            budget -= size

    def _read_blocks(self, batch: list[m.Request], rooms: list[memoryview]) -> None:
        """Fill each request's room from the file: one preadv per run of blocks that
        follow each other in the file (a downloader asks for a piece's blocks in order)."""
        piece_length = self.piece_length
        read_into = self.storage.read_into
        run: list[memoryview] = []
        start = end = -1
        for req, room in zip(batch, rooms, strict=True):
            offset = piece_length * req.index + req.begin
            if offset != end:
                if run:
                    read_into(start, run)
                start, run = offset, []
            run.append(room)
            end = offset + req.length
        if run:
            read_into(start, run)

    # -- the file served ----------------------------------------------------------------

    def trust_file(self, size: int, mtime_ns: int) -> None:
        """Every piece was hashed when the file had this size and mtime: while it
        keeps them, serve without re-hashing each piece first (half the seeder's CPU)."""
        self._trusted_stat = (size, mtime_ns)

    def _file_unchanged(self) -> bool:
        if self._trusted_stat is None:
            return False
        st = os.fstat(self.storage.fd)
        if (st.st_size, st.st_mtime_ns) == self._trusted_stat:
            return True
        # Written to since it was hashed: from now on every piece is re-hashed
        # before its first upload, so bad data is noticed instead of sent.
        self._trusted_stat = None
        self.checked_for_serving.clear()
        return False

    def _ready_to_serve(self, index: int) -> bool:
        """Re-hash a piece before its first upload; a changed file stops the seed."""
        if index in self.checked_for_serving:
            return True
        if not self.storage.verify_piece(index):
            self._on_file_changed(
                f"the shared file {self.storage.path} changed on disk "
                f"(piece {index} no longer matches); stopped sharing it"
            )
            return False
        self.checked_for_serving.add(index)
        return True

    # -- choking ------------------------------------------------------------------------

    def on_interested(self, peer: PeerState) -> None:
        if not peer.conn.protocol.am_choking:
            return
        if self._unchoked_count() < self.slots():
            self.unchoke(peer)
        else:  # no slot: what it was shown goes to peers we serve (it keeps its interest)
            self.super_seed.give_back(peer.conn)

    def slots(self) -> int:
        """Peers we upload to at once (a seed feeds fewer than a downloader trades with)."""
        return SEED_UPLOAD_SLOTS if self.picker.is_complete else UPLOAD_SLOTS

    def _unchoked_count(self) -> int:
        return sum(1 for p in self.peers.values() if not p.conn.protocol.am_choking)

    def unchoke(self, peer: PeerState) -> None:
        peer.ever_unchoked = True
        peer.conn.send(m.Unchoke())
        self._show_more(peer)

    def choke(self, peer: PeerState) -> None:
        peer.choked_requests = 0
        peer.queued.clear()
        peer.conn.send(m.Choke())
        # What it was shown and did not ask for goes to peers we serve instead.
        self.super_seed.give_back(peer.conn)

    def rechoke(self, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_choke < CHOKE_INTERVAL:
            return
        self._last_choke = now
        for peer in self.peers.values():
            if now - peer.connected_at >= UNINTERESTED_GRACE:
                self._show_all_if_uninterested(peer)
        stats = [
            PeerStats(
                peer=p.conn,
                interested=p.conn.protocol.peer_interested,
                rate_to_us=p.rate_down,
                rate_from_us=p.rate_up,
                is_seed=p.is_seed,
                connected_at=p.connected_at,
            )
            for p in self.peers.values()
        ]
        self._optimistic = pick_optimistic(stats, self.rng, now, self._optimistic)
        unchoke = choose_unchoked(
            stats,
            we_are_seed=self.picker.is_complete,
            slots=self.slots(),
            optimistic=self._optimistic.peer if self._optimistic else None,
        )
        for peer in self.peers.values():
            protocol = peer.conn.protocol
            if peer.conn in unchoke and protocol.am_choking:
                self.unchoke(peer)
            elif peer.conn not in unchoke and not protocol.am_choking and protocol.peer_interested:
                self.choke(peer)


def _send_haves(conn: PeerLink, pieces: list[int]) -> None:
    """Show ``pieces`` to a super-seeded peer (one write for all the ``have``s)."""
    if pieces:
        conn.write(conn.protocol.encode_haves(pieces))
