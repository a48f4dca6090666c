"""One torrent being downloaded or seeded: connections, lifecycle and figures.

The swarm keeps the connections of one torrent and hands each message to its
downloader (peer/downloader.py) or uploader (peer/uploader.py); it decides when
a download has finished or failed, and keeps the figures the client shows.
Time comes from an injected clock; the periodic ``tick`` does the slow
bookkeeping.
"""

from __future__ import annotations

import enum
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from minitorrent.errors import StorageError
from minitorrent.metainfo import InfoDict
from minitorrent.peer import extensions
from minitorrent.peer.downloader import Downloader
from minitorrent.peer.folder_storage import Storage
from minitorrent.peer.link import PeerLink
from minitorrent.peer.members import Members
from minitorrent.peer.peer_state import PeerState, PeerTotals
from minitorrent.peer.picker import PiecePicker
from minitorrent.peer.uploader import MAX_QUEUED_REQUESTS, Uploader
from minitorrent.wire import messages as m
from minitorrent.wire.protocol import Blocks, RunEvent

__all__ = [
    "MAX_QUEUED_REQUESTS",
    "STALL_TIMEOUT",
    "PeerTotals",
    "State",
    "Swarm",
    "SwarmStatus",
]

STALL_TIMEOUT = 20.0  # requests outstanding and no block for this long: drop the peer


class State(enum.Enum):
    DOWNLOADING = "downloading"
    CHECKING = "checking"
    SEEDING = "seeding"
    FAILED = "failed"
    STOPPED = "stopped"


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
        storage: Storage,
        *,
        have: list[bool],
        wanted: set[int] | None = None,
        on_piece_verified: Callable[[Swarm], None] | None = None,
        on_finished: Callable[[Swarm], None] | None = None,
        rng: random.Random | None = None,
        stall_timeout: float = STALL_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        members: Members | None = None,
    ) -> None:
        self.info = info
        self.stall_timeout = stall_timeout
        self.info_hash = info.info_hash
        self.metadata = info.encode()  # served to magnet-link clients (BEP 9)
        self.rng = rng or random.Random()
        self.clock = clock
        self.picker = PiecePicker(
            info.num_pieces,
            info.piece_length,
            info.length,
            rng=self.rng,
            have=[i for i, ok in enumerate(have) if ok],
            wanted=wanted,  # None: every piece; else part of a folder
        )
        self.reason = ""
        self.peers: dict[PeerLink, PeerState] = {}
        # (downloaded, uploaded) of the closed connections, per peer id.
        self._past: dict[bytes, tuple[int, int]] = {}
        self.download = Downloader(
            info,
            storage,
            self.picker,
            self.peers,
            rng=self.rng,
            clock=clock,
            on_verified=self._piece_verified,
            on_complete=self._download_complete,
            members=members or Members(),
        )
        self.upload = Uploader(
            storage,
            self.picker,
            self.peers,
            piece_length=info.piece_length,
            rng=self.rng,
            clock=clock,
            on_file_changed=self.fail,
        )
        self._state = State.DOWNLOADING
        self.state = State.SEEDING if self.picker.is_complete else State.DOWNLOADING
        self.rate_down = 0.0
        self.rate_up = 0.0
        self._on_piece_verified = on_piece_verified
        self._on_finished = on_finished
        self._marks = (0, 0, clock())

    @property
    def state(self) -> State:
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        self._state = state
        self.download.active = state is State.DOWNLOADING

    @property
    def storage(self) -> Storage:
        return self.upload.storage

    # -- status ------------------------------------------------------------------

    @property
    def failed(self) -> bool:
        return self.state is State.FAILED

    @property
    def complete(self) -> bool:
        return self.picker.is_complete

    @property
    def uploaded(self) -> int:
        return self.upload.uploaded

    @property
    def downloaded(self) -> int:
        return self.download.downloaded

    @property
    def banned(self) -> set[bytes]:
        return self.download.banned

    @property
    def last_progress(self) -> float:
        return self.download.last_progress

    def status(self) -> SwarmStatus:
        have = self.picker.num_have
        done = have * self.info.piece_length  # O(1): announces ask on the critical path
        last = self.info.num_pieces - 1
        if have and self.picker.has_piece(last):
            done -= self.info.piece_length - self.info.piece_size(last)
        return SwarmStatus(
            state=self.state,
            have=have,
            total=self.info.num_pieces,
            bytes_done=done,
            length=self.picker.wanted_length,  # so `left` is 0 for a complete part
            rate_down=self.rate_down,
            rate_up=self.rate_up,
            peers=len(self.peers),
            uploaded=self.uploaded,
            downloaded=self.downloaded,
            reason=self.reason,
        )

    def have_bits(self) -> bytes:
        """One byte per piece, 1 if we have it verified (the resume data)."""
        return bytes(self.picker.have_list())

    def missing_pieces(self) -> int:
        return self.picker.num_missing

    def peer_count(self) -> int:
        return len(self.peers)

    def links(self) -> list[PeerLink]:
        """The connected peers (the node re-checks each with the tracker)."""
        return list(self.peers)

    def is_banned(self, peer_id: bytes, ip: str) -> bool:
        """Refused: it, or another peer id of its member, sent bad data."""
        return self.download.refuses(peer_id, ip)

    def sync_storage(self) -> None:
        """Flush what was written to disk (blocking: call it in a thread)."""
        self.storage.sync()

    def close_storage(self) -> None:
        self.storage.close()

    def peer_counters(self) -> dict[bytes, PeerTotals]:
        """Bytes exchanged per peer id, peers that have disconnected or were banned
        (with their member, unseen) included."""
        live = {p.conn.peer_id: (p.downloaded, p.uploaded) for p in self.peers.values()}
        totals = {}
        for peer_id in {*self._past, *live, *self.banned}:
            down0, up0 = self._past.get(peer_id, (0, 0))
            down1, up1 = live.get(peer_id, (0, 0))
            totals[peer_id] = PeerTotals(
                down0 + down1, up0 + up1, peer_id in live, peer_id in self.banned
            )
        return totals

    # -- connections ----------------------------------------------------------------

    def accept(self, conn: PeerLink) -> bool:
        """A handshake completed; False refuses the peer."""
        if self.state in (State.FAILED, State.STOPPED) or self.is_banned(
            conn.peer_id, conn.address[0]
        ):
            return False
        if any(p.conn.peer_id == conn.peer_id for p in self.peers.values()):
            return False  # already connected to that peer
        self.download.admit(conn)
        now = self.clock()
        self.peers[conn] = PeerState(conn, last_block_at=now, connected_at=now)
        self.picker.add_peer(conn, ())  # until its bitfield says otherwise
        if conn.protocol.extensions_enabled:
            conn.send(extensions.our_handshake(len(self.metadata)))
        have = self.picker.have_list()
        if have and all(have):  # a seed shows its pieces a few at a time (peer/super_seed.py)
            self.upload.introduce(self.peers[conn])
        elif all(have) and conn.fast:  # an empty file
            conn.send(m.HaveAll())
        elif not any(have) and conn.fast:
            conn.send(m.HaveNone())
        elif any(have):
            conn.send(m.Bitfield(m.bitfield_from_pieces(have, self.info.num_pieces)))
        self.upload.rechoke(force=len(self.peers) <= self.upload.slots())
        return True

    def on_disconnect(self, conn: PeerLink) -> None:
        peer = self.peers.pop(conn, None)
        if peer is not None:
            self.picker.remove_peer(conn)
            down, up = self._past.get(conn.peer_id, (0, 0))
            self._past[conn.peer_id] = (down + peer.downloaded, up + peer.uploaded)
        self.upload.forget(conn)

    def connected_peer_ids(self) -> set[bytes]:
        return {p.conn.peer_id for p in self.peers.values()}

    # -- incoming messages --------------------------------------------------------

    def on_message(self, conn: PeerLink, msg: RunEvent) -> None:
        peer = self.peers.get(conn)
        if peer is None:
            return
        if type(msg) is Blocks:  # a run of blocks, the hot path
            self.download.on_blocks(peer, msg.blocks)
        elif isinstance(msg, m.Piece):
            self.download.on_block(peer, msg)
        elif isinstance(msg, m.Request):
            self.upload.on_request(peer, msg)
        elif isinstance(msg, m.Have):
            new = not self.picker.peer_has_piece(conn, msg.index)
            self.download.on_have(peer, msg.index)
            self.upload.on_have(peer, msg.index, new=new)
        elif isinstance(msg, m.Bitfield):
            self.download.on_bitfield(peer, msg.bits)
            self.upload.on_bitfield(peer)
        elif isinstance(msg, m.HaveAll):
            self.download.on_have_all(peer)
            self.upload.on_bitfield(peer)
        elif isinstance(msg, m.Choke):
            self.download.on_choke(peer)
        elif isinstance(msg, m.Interested):
            self.upload.on_interested(peer)
        elif isinstance(msg, m.Cancel):
            self.upload.on_cancel(peer, msg)
        elif isinstance(msg, m.Reject):
            self.download.on_reject(peer, msg)
        elif isinstance(msg, m.Extended):
            for reply in extensions.handle(msg, peer.extensions, self.metadata):
                conn.send(reply)
        # Unchoke, NotInterested (the protocol keeps the flags), KeepAlive, HaveNone,
        # Suggest, AllowedFast, Port: nothing to do.

    def after_messages(self, conn: PeerLink) -> None:
        """Called once per batch of received messages: write, then send in bulk."""
        self.download.flush_writes()
        peer = self.peers.get(conn)
        if peer is None:
            return
        self.download.flush_haves()
        self.upload.serve(peer)
        self.download.request_more(peer)

    def on_writable(self, conn: PeerLink) -> None:
        peer = self.peers.get(conn)
        if peer is not None:
            self.upload.serve(peer)

    def on_storage_error(self, exc: StorageError) -> None:
        self.fail(str(exc))

    def flush_writes(self) -> None:
        self.download.flush_writes()

    def trust_file(self, size: int, mtime_ns: int) -> None:
        self.upload.trust_file(size, mtime_ns)

    # -- lifecycle --------------------------------------------------------------------

    def _piece_verified(self) -> None:
        if self._on_piece_verified is not None:
            self._on_piece_verified(self)

    def _download_complete(self) -> None:
        self.state = State.CHECKING
        for peer in list(self.peers.values()):
            self.download.update_interest(peer)
        if self._on_finished is not None:
            self._on_finished(self)

    def tick(self) -> None:
        """Once a second: rates, stalled peers, choking."""
        now = self.clock()
        up, down, then = self._marks
        elapsed = max(now - then, 1e-3)
        self.rate_up = 0.7 * self.rate_up + 0.3 * (self.uploaded - up) / elapsed
        self.rate_down = 0.7 * self.rate_down + 0.3 * (self.downloaded - down) / elapsed
        self._marks = (self.uploaded, self.downloaded, now)
        for peer in list(self.peers.values()):
            peer.sample_rates()
            if peer.outstanding and now - peer.last_block_at > self.stall_timeout:
                peer.conn.drop("stalled: no data for requested blocks")
                continue
            self.download.request_more(peer)
        if self.state is State.DOWNLOADING:
            self.download.watch_refetches(now)
        self.upload.rechoke()

    def has_useful_peer(self) -> bool:
        return any(self.download.useful(p) for p in self.peers.values())

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

    def become_seed(self, storage: Storage) -> None:
        """The download was verified and renamed: serve from the final file."""
        self.upload.storage.close()
        self.upload.storage = self.download.storage = storage
        self.state = State.SEEDING
        st = os.fstat(storage.fd)
        self.trust_file(st.st_size, st.st_mtime_ns)  # every piece was just verified
        for peer in list(self.peers.values()):
            if peer.is_seed:
                peer.conn.drop("both sides are seeds")
