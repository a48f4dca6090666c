"""One torrent being downloaded or seeded: protocol + picker + storage over asyncio.

The swarm keeps the connections of one torrent, asks the pure picker what to
request, writes and verifies pieces through the storage, serves requests in
batches, and decides when a download has finished or failed. Time comes from
the event loop; the periodic ``tick`` does the slow bookkeeping.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import cast

from minitorrent.errors import StorageError
from minitorrent.metainfo import InfoDict
from minitorrent.peer import extensions
from minitorrent.peer.blame import Blame, Source, block_digests
from minitorrent.peer.choker import OptimisticSlot, PeerStats, choose_unchoked, pick_optimistic
from minitorrent.peer.link import PeerLink
from minitorrent.peer.picker import Block, PiecePicker
from minitorrent.peer.storage import PieceHasher, PieceStorage
from minitorrent.wire import messages as m

log = logging.getLogger(__name__)

REQUESTS_IN_FLIGHT = 64  # per peer; notes/fast-peer-io.md: 64 saturates loopback
MAX_QUEUED_REQUESTS = 512  # a peer asking for more than this is misbehaving
STALL_TIMEOUT = 20.0  # requests outstanding and no block for this long: drop the peer
CHOKE_INTERVAL = 10.0
UPLOAD_SLOTS = 8
SOLO_PATIENCE = 5.0  # a re-fetch from one peer that makes no progress this long moves on


class State(enum.Enum):
    DOWNLOADING = "downloading"
    CHECKING = "checking"
    SEEDING = "seeding"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class PeerState:
    """What the swarm knows about one connected peer."""

    conn: PeerLink  # its protocol holds the choke and interest flags
    is_seed: bool = False
    bitfield_seen: bool = False
    outstanding: int = 0
    last_block_at: float = 0.0
    downloaded: int = 0  # bytes of verified-or-not blocks received from this peer
    uploaded: int = 0  # bytes of blocks sent to this peer
    rate_down: float = 0.0
    rate_up: float = 0.0
    _down_mark: int = 0
    _up_mark: int = 0
    queued: deque[m.Request] = field(default_factory=deque)
    ever_unchoked: bool = False  # by us
    choked_requests: int = 0  # requests received since our last choke
    extensions: extensions.ExtensionState = field(default_factory=extensions.ExtensionState)
    connected_at: float = 0.0


@dataclass(frozen=True, slots=True)
class PeerTotals:
    """Bytes exchanged with one peer id during this transfer (all its connections)."""

    downloaded: int  # bytes of blocks received from it
    uploaded: int  # bytes of blocks sent to it
    connected: bool
    banned: bool


@dataclass(frozen=True, slots=True)
class SwarmStatus:
    state: State
    have: int
    total: int
    bytes_done: int
    length: int
    rate_down: float
    rate_up: float
    peers: int
    uploaded: int
    downloaded: int
    reason: str


class Swarm:
    """Shared by downloads and seeds; a seed is a swarm whose picker is complete."""

    def __init__(
        self,
        info: InfoDict,
        storage: PieceStorage,
        *,
        have: list[bool],
        on_piece_verified: Callable[[Swarm], None] | None = None,
        on_finished: Callable[[Swarm], None] | None = None,
        rng: random.Random | None = None,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self.info = info
        self.stall_timeout = stall_timeout
        self.info_hash = info.info_hash
        self.metadata = info.encode()  # served to magnet-link clients (BEP 9)
        self.storage = storage
        self.rng = rng or random.Random()
        self.picker = PiecePicker(
            info.num_pieces,
            info.piece_length,
            info.length,
            rng=self.rng,
            have=[i for i, ok in enumerate(have) if ok],
        )
        self.state = State.SEEDING if self.picker.is_complete else State.DOWNLOADING
        self.reason = ""
        self.peers: dict[PeerLink, PeerState] = {}
        self.banned: set[bytes] = set()  # peer ids that sent bad data
        self.blame = Blame()  # failed pieces, until a good copy says who lied
        self._solo_progress: dict[int, float] = {}  # re-fetched piece -> last progress
        self._solo_tried: dict[int, set[bytes]] = {}  # piece -> owners that let it stall
        # (downloaded, uploaded) of the closed connections, per peer id.
        self._past: dict[bytes, tuple[int, int]] = {}
        self.uploaded = 0
        self.downloaded = 0
        self.rate_down = 0.0
        self.rate_up = 0.0
        self.last_progress = time.monotonic()
        # Pieces whose data on disk we re-hashed before serving them (seeding):
        # a file changed under us is noticed instead of sending bad data.
        self.checked_for_serving: set[int] = set()
        self._trusted_stat: tuple[int, int] | None = None  # see trust_file
        self._on_piece_verified = on_piece_verified
        self._on_finished = on_finished
        self._optimistic: OptimisticSlot | None = None
        self._last_choke = 0.0
        self._have_buffer: list[int] = []
        self._pending_writes: list[tuple[int, int, list[memoryview | bytes]]] = []
        self._hashers: dict[int, PieceHasher | None] = {}  # None: out of order, read back
        self._marks = (0, 0, time.monotonic())

    # -- status ------------------------------------------------------------------

    @property
    def failed(self) -> bool:
        return self.state is State.FAILED

    @property
    def complete(self) -> bool:
        return self.picker.is_complete

    def status(self) -> SwarmStatus:
        have = self.picker.num_have
        done = have * self.info.piece_length  # O(1): announces ask on the critical path
        last = self.info.num_pieces - 1
        if have and self._has(last):
            done -= self.info.piece_length - self.info.piece_size(last)
        return SwarmStatus(
            state=self.state,
            have=have,
            total=self.info.num_pieces,
            bytes_done=done,
            length=self.info.length,
            rate_down=self.rate_down,
            rate_up=self.rate_up,
            peers=len(self.peers),
            uploaded=self.uploaded,
            downloaded=self.downloaded,
            reason=self.reason,
        )

    def _has(self, index: int) -> bool:
        return self.picker.has_piece(index)

    def peer_counters(self) -> dict[bytes, PeerTotals]:
        """Bytes exchanged per peer id, peers that have disconnected included."""
        live = {p.conn.peer_id: (p.downloaded, p.uploaded) for p in self.peers.values()}
        totals = {}
        for peer_id in {*self._past, *live}:
            down0, up0 = self._past.get(peer_id, (0, 0))
            down1, up1 = live.get(peer_id, (0, 0))
            totals[peer_id] = PeerTotals(
                down0 + down1, up0 + up1, peer_id in live, peer_id in self.banned
            )
        return totals

    # -- connections ----------------------------------------------------------------

    def accept(self, conn: PeerLink) -> bool:
        """A handshake completed; False refuses the peer."""
        if self.state in (State.FAILED, State.STOPPED) or conn.peer_id in self.banned:
            return False
        if any(p.conn.peer_id == conn.peer_id for p in self.peers.values()):
            return False  # already connected to that peer
        now = time.monotonic()
        self.peers[conn] = PeerState(conn, last_block_at=now, connected_at=now)
        self.picker.add_peer(conn, ())  # until its bitfield says otherwise
        if conn.protocol.extensions_enabled:
            conn.send(extensions.our_handshake(len(self.metadata)))
        have = self.picker.have_list()
        if all(have) and conn.fast:
            conn.send(m.HaveAll())
        elif not any(have) and conn.fast:
            conn.send(m.HaveNone())
        elif any(have):
            conn.send(m.Bitfield(m.bitfield_from_pieces(have, self.info.num_pieces)))
        self._rechoke(force=len(self.peers) <= UPLOAD_SLOTS)
        return True

    def on_disconnect(self, conn: PeerLink) -> None:
        peer = self.peers.pop(conn, None)
        if peer is not None:
            self.picker.remove_peer(conn)
            down, up = self._past.get(conn.peer_id, (0, 0))
            self._past[conn.peer_id] = (down + peer.downloaded, up + peer.uploaded)
        if self._optimistic is not None and self._optimistic.peer is conn:
            self._optimistic = None

    def connected_peer_ids(self) -> set[bytes]:
        return {p.conn.peer_id for p in self.peers.values()}

    # -- incoming messages --------------------------------------------------------

    def on_message(self, conn: PeerLink, msg: m.Message) -> None:
        peer = self.peers.get(conn)
        if peer is None:
            return
        if isinstance(msg, m.Piece):
            self._on_block(peer, msg)
        elif isinstance(msg, m.Request):
            self._on_request(peer, msg)
        elif isinstance(msg, m.Have):
            self.picker.peer_has(conn, msg.index)
            self._update_interest(peer)
        elif isinstance(msg, m.Bitfield):
            pieces = m.pieces_from_bitfield(msg.bits, self.info.num_pieces)
            if peer.bitfield_seen:  # a late, fuller bitfield (aria2): add what is new
                for index in (i for i, ok in enumerate(pieces) if ok):
                    self.picker.peer_has(conn, index)
            else:  # its first message: no requests outstanding yet
                self.picker.remove_peer(conn)
                if all(pieces):  # a seed without the fast extension
                    self.picker.add_peer_have_all(conn)
                else:
                    self.picker.add_peer(conn, [i for i, ok in enumerate(pieces) if ok])
            peer.bitfield_seen = True
            peer.is_seed = all(pieces)
            self._update_interest(peer)
        elif isinstance(msg, m.HaveAll):
            self.picker.remove_peer(conn)
            self.picker.add_peer_have_all(conn)
            peer.is_seed = True
            self._update_interest(peer)
        elif isinstance(msg, m.Choke):
            if not conn.fast:
                # Without the fast extension a choke discards our requests.
                self.picker.cancel_all(conn)
                peer.outstanding = 0
        elif isinstance(msg, m.Interested):
            if conn.protocol.am_choking and self._unchoked_count() < UPLOAD_SLOTS:
                self._unchoke(peer)
        elif isinstance(msg, m.Cancel):
            self._drop_queued(peer, msg.index, msg.begin, msg.length)
        elif isinstance(msg, m.Reject):
            block = Block(msg.index, msg.begin, msg.length)
            self.picker.on_request_rejected(conn, block)
            peer.outstanding = max(0, peer.outstanding - 1)
        elif isinstance(msg, m.Extended):
            for reply in extensions.handle(msg, peer.extensions, self.metadata):
                conn.send(reply)
        # Unchoke, NotInterested (the protocol keeps the flags), KeepAlive, HaveNone,
        # Suggest, AllowedFast, Port: nothing to do.

    def after_messages(self, conn: PeerLink) -> None:
        """Called once per batch of received messages: write, then send in bulk."""
        self.flush_writes()
        peer = self.peers.get(conn)
        if peer is None:
            return
        self._flush_haves()
        self._serve(peer)
        self._request_more(peer)

    def on_writable(self, conn: PeerLink) -> None:
        peer = self.peers.get(conn)
        if peer is not None:
            self._serve(peer)

    def on_storage_error(self, exc: StorageError) -> None:
        self.fail(str(exc))

    # -- downloading ------------------------------------------------------------------

    def _on_block(self, peer: PeerState, msg: m.Piece) -> None:
        conn = peer.conn
        block = Block(msg.index, msg.begin, len(msg.block))
        peer.outstanding = max(0, peer.outstanding - 1)
        peer.last_block_at = time.monotonic()
        peer.downloaded += block.length
        self.downloaded += block.length
        if self.state is not State.DOWNLOADING:
            return
        others = self.picker.receive(conn, block)
        if others is None:
            return  # a late duplicate (end-game, or after a choke)
        if msg.index in self._solo_progress:
            self._solo_progress[msg.index] = peer.last_block_at
        self._queue_write(self.info.piece_length * msg.index + msg.begin, msg.block)
        self._hash_in_order(msg.index, msg.begin, msg.block)
        for other in others:
            other_state = self.peers.get(other)  # type: ignore[call-overload]
            if other_state is not None:
                other_state.conn.send(m.Cancel(block.index, block.begin, block.length))
                other_state.outstanding = max(0, other_state.outstanding - 1)
        if self.picker.piece_complete(msg.index):
            self._check_piece(msg.index)

    def _queue_write(self, offset: int, data: memoryview | bytes) -> None:
        """Blocks wait here until the end of the receive callback; contiguous ones
        then go to disk in one pwritev (the views stay valid until then)."""
        pending = self._pending_writes
        if pending and pending[-1][0] + pending[-1][1] == offset:
            start, length, views = pending[-1]
            views.append(data)
            pending[-1] = (start, length + len(data), views)
        else:
            pending.append((offset, len(data), [data]))

    def flush_writes(self) -> None:
        pending, self._pending_writes = self._pending_writes, []
        for offset, _, views in pending:
            self.storage.write_blocks(offset, views)

    def _hash_in_order(self, index: int, begin: int, data: memoryview | bytes) -> None:
        """Hash a piece as its blocks arrive, when they arrive in order (they usually
        do): no read-back later. Out of order, the piece is read back instead."""
        hasher = self._hashers.get(index)
        if hasher is None and begin == 0 and index not in self._hashers:
            hasher = self._hashers[index] = PieceHasher.for_piece(self.info, index)
        elif hasher is None or hasher.received != begin:
            self._hashers[index] = None
            return
        hasher.update(data)

    def _piece_is_good(self, index: int) -> bool:
        hasher = self._hashers.pop(index, None)
        if hasher is not None and hasher.received == hasher.size:
            return hasher.finalize()
        self.flush_writes()
        return self.storage.verify_piece(index)

    def _check_piece(self, index: int) -> None:
        senders = [_source(c) for c in self.picker.senders(index)]
        if self._piece_is_good(index):
            # Written before it counts as verified: resume data trusts verified pieces, so
            # a piece whose write failed (disk full) must stay missing, not pass for good.
            self.flush_writes()
            if self.blame.suspect(index):  # a good copy at last: whose blocks differed?
                sole = senders[0] if len(set(senders)) == 1 else None
                self._ban_all(self.blame.piece_verified(index, self._digests(index), sole))
            self._forget_refetch(index)
            self.picker.on_piece_verified(index)
            self.last_progress = time.monotonic()
            self._have_buffer.append(index)
            if self._on_piece_verified is not None:
                self._on_piece_verified(self)
            if self.picker.is_complete:
                self._flush_haves()
                self._download_complete()
            return
        self.flush_writes()
        failed = list(zip(senders, self._digests(index), strict=True))
        self.picker.on_piece_failed(index)
        self._forget_refetch(index)
        self._ban_all(self.blame.piece_failed(index, failed))
        self._fetch_alone(index)

    def _digests(self, index: int) -> list[bytes]:
        """Block digests of the piece as on disk (only for pieces that failed once)."""
        data = self.storage.read(self.storage.piece_offset(index), self.info.piece_size(index))
        return block_digests(data, self.picker.block_size)

    def _fetch_alone(self, index: int, *, instead_of: Hashable | None = None) -> None:
        """Have a failed piece re-fetched from one peer: the lowest ranked that has it
        and has not yet let this re-fetch stall (``instead_of``: the owner that just did);
        once every one has, a new round (but not ``instead_of`` unless it is alone)."""
        if self.state is not State.DOWNLOADING or self.picker.has_piece(index):
            return
        tried = self._solo_tried.setdefault(index, set())
        if instead_of is not None:
            tried.add(_source(instead_of)[0])
            self.blame.stalled(_source(instead_of))
        able = [
            p
            for p in self.peers.values()
            if p.conn.peer_id not in self.banned and self.picker.peer_has_piece(p.conn, index)
        ]
        candidates = [p for p in able if p.conn.peer_id not in tried]
        if not candidates:
            tried.clear()
            candidates = [p for p in able if p.conn is not instead_of]
        if not candidates:
            if instead_of is None:  # nobody can: anyone may deliver it, blame waits
                self.picker.clear_solo(index)
            return
        best = min(
            candidates,
            key=lambda p: (
                self.blame.rank(_source(p.conn)),
                p.conn.protocol.peer_choking,
                self.rng.random(),
            ),
        )
        for other, block in self.picker.set_solo(index, best.conn):
            other_state = self.peers.get(other)  # type: ignore[call-overload]
            if other_state is not None:
                other_state.conn.send(m.Cancel(block.index, block.begin, block.length))
                other_state.outstanding = max(0, other_state.outstanding - 1)
        self._hashers[index] = None  # blocks may have been dropped: read the piece back
        self._solo_progress[index] = time.monotonic()
        self._update_interest(best)
        self._request_more(best)

    def _forget_refetch(self, index: int) -> None:
        self._solo_progress.pop(index, None)
        self._solo_tried.pop(index, None)

    def _watch_refetches(self, now: float) -> None:
        """Move a re-fetch on from an owner that left, chokes us or sends nothing."""
        for index in self.blame.suspect_pieces():
            owner = self.picker.solo_owner(index)
            state = None if owner is None else self.peers.get(owner)  # type: ignore[call-overload]
            if state is None:
                self._fetch_alone(index)
            elif (
                state.conn.protocol.peer_choking
                or now - self._solo_progress.get(index, now) > SOLO_PATIENCE
            ):
                self._fetch_alone(index, instead_of=owner)

    def _ban_all(self, sources: set[Source]) -> None:
        for peer_id, _ in sources:
            self._ban(peer_id)

    def _ban(self, peer_id: bytes) -> None:
        log.info("banning peer %s: sent data that failed the hash check", peer_id.hex())
        self.banned.add(peer_id)
        for conn in [c for c in self.peers if c.peer_id == peer_id]:
            conn.drop("sent data that failed the hash check")

    def _flush_haves(self) -> None:
        if not self._have_buffer:
            return
        haves, self._have_buffer = self._have_buffer, []
        for peer in list(self.peers.values()):
            protocol = peer.conn.protocol
            if not peer.is_seed:  # a seed wants nothing: one socket write saved per piece
                peer.conn.write(protocol.encode_haves(haves))
            if protocol.am_interested and not self.picker.interesting(peer.conn):
                peer.conn.send(m.NotInterested())

    def _update_interest(self, peer: PeerState) -> None:
        wanted = self.state is State.DOWNLOADING and self.picker.interesting(peer.conn)
        if wanted != peer.conn.protocol.am_interested:
            peer.conn.send(m.Interested() if wanted else m.NotInterested())

    def _request_more(self, peer: PeerState) -> None:
        protocol = peer.conn.protocol
        if (
            self.state is not State.DOWNLOADING
            or protocol.peer_choking
            or not protocol.am_interested
        ):
            return
        room = REQUESTS_IN_FLIGHT - peer.outstanding
        if room < REQUESTS_IN_FLIGHT // 2:
            return  # top up in bursts: fewer, larger writes
        blocks = self.picker.pick(peer.conn, room)
        if blocks:
            peer.outstanding += len(blocks)
            requests = [(b.index, b.begin, b.length) for b in blocks]
            peer.conn.write(protocol.encode_requests(requests))

    def _download_complete(self) -> None:
        self.state = State.CHECKING
        for peer in list(self.peers.values()):
            self._update_interest(peer)
        if self._on_finished is not None:
            self._on_finished(self)

    # -- uploading --------------------------------------------------------------------

    def _on_request(self, peer: PeerState, req: m.Request) -> None:
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
        if not self._has(req.index):
            peer.conn.drop("requested a piece we do not have")
            return
        if len(peer.queued) >= MAX_QUEUED_REQUESTS:
            peer.conn.drop("too many queued requests")
            return
        peer.queued.append(req)

    def _drop_queued(self, peer: PeerState, index: int, begin: int, length: int) -> None:
        with contextlib.suppress(ValueError):
            peer.queued.remove(m.Request(index, begin, length))

    def _serve(self, peer: PeerState) -> None:
        """Answer queued requests: one buffer, filled by preadv, one write."""
        conn = peer.conn
        budget = 2 * 1024 * 1024
        while peer.queued and conn.writable and budget > 0:
            batch: list[m.Request] = []
            size = 0
            trusted = self._file_unchanged()
            header = conn.protocol.piece_header
            while peer.queued and size < budget:
                req = peer.queued.popleft()
                if not trusted and not self._ready_to_serve(req.index):
                    return
                batch.append(req)
                size += 13 + req.length
            buffer = bytearray(size)
            view = memoryview(buffer)
            pos = 0
            for req in batch:
                view[pos : pos + 13] = header(req.index, req.begin, req.length)
                pos += 13
                offset = self.info.piece_length * req.index + req.begin
                self.storage.read_into(offset, [view[pos : pos + req.length]])
                pos += req.length
            conn.write(buffer)
            sent = size - 13 * len(batch)
            peer.uploaded += sent
            self.uploaded += sent
            budget -= size

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
            self.fail(
                f"the shared file {self.storage.path} changed on disk "
                f"(piece {index} no longer matches); stopped sharing it"
            )
            return False
        self.checked_for_serving.add(index)
        return True

    def _unchoked_count(self) -> int:
        return sum(1 for p in self.peers.values() if not p.conn.protocol.am_choking)

    def _unchoke(self, peer: PeerState) -> None:
        peer.ever_unchoked = True
        peer.conn.send(m.Unchoke())

    def _choke(self, peer: PeerState) -> None:
        peer.choked_requests = 0
        peer.queued.clear()
        peer.conn.send(m.Choke())

    def _rechoke(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_choke < CHOKE_INTERVAL:
            return
        self._last_choke = now
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
            we_are_seed=self.complete,
            slots=UPLOAD_SLOTS,
            optimistic=self._optimistic.peer if self._optimistic else None,
        )
        for peer in self.peers.values():
            protocol = peer.conn.protocol
            if peer.conn in unchoke and protocol.am_choking:
                self._unchoke(peer)
            elif peer.conn not in unchoke and not protocol.am_choking and protocol.peer_interested:
                self._choke(peer)

    # -- lifecycle --------------------------------------------------------------------

    def tick(self) -> None:
        """Once a second: rates, stalled peers, choking."""
        now = time.monotonic()
        up, down, then = self._marks
        elapsed = max(now - then, 1e-3)
        self.rate_up = 0.7 * self.rate_up + 0.3 * (self.uploaded - up) / elapsed
        self.rate_down = 0.7 * self.rate_down + 0.3 * (self.downloaded - down) / elapsed
        self._marks = (self.uploaded, self.downloaded, now)
        for peer in list(self.peers.values()):
            peer.rate_down = 0.7 * peer.rate_down + 0.3 * (peer.downloaded - peer._down_mark)
            peer.rate_up = 0.7 * peer.rate_up + 0.3 * (peer.uploaded - peer._up_mark)
            peer._down_mark, peer._up_mark = peer.downloaded, peer.uploaded
            if peer.outstanding and now - peer.last_block_at > self.stall_timeout:
                peer.conn.drop("stalled: no data for requested blocks")
                continue
            self._request_more(peer)
        if self.state is State.DOWNLOADING:
            self._watch_refetches(now)
        self._rechoke()

    def has_useful_peer(self) -> bool:
        return any(self.picker.interesting(p.conn) for p in self.peers.values())

    def fail(self, reason: str) -> None:
        if self.state in (State.FAILED, State.STOPPED):
            return
        self.state = State.FAILED
        self.reason = reason
        self.close_connections(reason)

    def stop(self) -> None:
        if self.state is not State.FAILED:
            self.state = State.STOPPED
        self.close_connections("stopped")

    def close_connections(self, reason: str) -> None:
        for conn in list(self.peers):
            conn.drop(reason)

    def become_seed(self, storage: PieceStorage) -> None:
        """The download was verified and renamed: serve from the final file."""
        self.storage.close()
        self.storage = storage
        self.state = State.SEEDING
        st = os.fstat(storage.fd)
        self.trust_file(st.st_size, st.st_mtime_ns)  # every piece was just verified
        for peer in list(self.peers.values()):
            if peer.is_seed:
                peer.conn.drop("both sides are seeds")


def _source(sender: Hashable | None) -> Source:
    """Who delivered a block, as blame knows peers: peer id and address."""
    if sender is None:
        return b"", ""  # no block received (never in practice): blamed as nobody
    link = cast(PeerLink, sender)  # the picker's peers are this swarm's links
    return link.peer_id, link.address[0]
