"""The downloading half of a swarm: what to ask whom, and what arrived.

It asks the pure picker what to request, keeps each peer's requests topped up,
writes received blocks in batches, hashes pieces as they arrive, and judges
them: a good piece is announced to every peer, a bad one is blamed on its
senders (peer/blame.py) and re-fetched from one peer at a time until a good copy
says who lied; liars are banned, with every peer id of their member (peer/members.py).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Hashable, Sequence
from typing import cast

from minitorrent.metainfo import InfoDict
from minitorrent.peer.blame import Blame, Source, block_digests
from minitorrent.peer.folder_storage import Storage
from minitorrent.peer.link import PeerLink
from minitorrent.peer.members import Members
from minitorrent.peer.peer_state import PeerState
from minitorrent.peer.picker import END_GAME_BLOCKS, Block, PiecePicker
from minitorrent.peer.piece_hasher import Buffer, PieceHasher
from minitorrent.wire import messages as m

log = logging.getLogger(__name__)

REQUESTS_IN_FLIGHT = 64  # per peer at most; 64 saturates loopback (measured)
MIN_REQUESTS_IN_FLIGHT = 8
# Requests outstanding with a peer: about this many seconds of its rate to us. A peer
# answers in order, and its upload is shared by everyone asking it, so a piece it just
# announced reaches us about this long after we ask: this is the delay of every hop a
# piece takes through the swarm (the last pieces' hops are the end of a download), and
# our haves, requests and cancels to it wait behind its answers too. Half a second of
# every asker's queue keeps a peer's upload busy for half a second without us.
QUEUE_SECONDS = 0.5
SOLO_PATIENCE = 5.0  # a re-fetch from one peer that makes no progress this long moves on
# Nothing new to ask of anyone, and a peer asked has sent nothing for this long: an idle
# peer is asked for blocks outstanding elsewhere too (the rest nobody has).
STARVED_PATIENCE = 2.0


class Downloader:
    def __init__(
        self,
        info: InfoDict,
        storage: Storage,
        picker: PiecePicker,
        peers: dict[PeerLink, PeerState],
        *,
        rng: random.Random,
        clock: Callable[[], float],
        on_verified: Callable[[], None],
        on_complete: Callable[[], None],
        members: Members,
    ) -> None:
        self.info = info
        self.storage = storage
        self.picker = picker
        self.peers = peers  # the swarm's, shared
        self.rng = rng
        self.clock = clock
        self.active = not picker.is_complete  # False once complete, failed or stopped
        self.downloaded = 0  # bytes of blocks received, good or bad
        self.last_progress = clock()
        self.banned: set[bytes] = set()  # peer ids of members that sent bad data
        self.banned_members: set[str] = set()
        self.blame = Blame()  # failed pieces, until a good copy says who lied
        self.members = members
        self._member: dict[bytes, str] = {}  # peer id -> its member, as when it connected
        self._on_verified = on_verified
        self._on_complete = on_complete
        self._solo_progress: dict[int, float] = {}  # re-fetched piece -> last progress
        self._solo_tried: dict[int, set[bytes]] = {}  # piece -> owners that let it stall
        self._have_buffer: list[int] = []
        self._pending_writes: list[tuple[int, int, list[Buffer]]] = []
        self._hashers: dict[int, PieceHasher | None] = {}  # None: out of order, read back

    # -- who peers are ----------------------------------------------------------------

    def refuses(self, peer_id: bytes, ip: str) -> bool:
        """A peer of a member that sent bad data: refused for the rest of the download."""
        return peer_id in self.banned or self.members.of(peer_id, ip) in self.banned_members

    def admit(self, link: PeerLink) -> None:
        """A peer connected: blame knows it as its member from now on."""
        self._member[link.peer_id] = self.members.of(link.peer_id, link.address[0])
        log.debug("peer %s:%s connected", *link.address)

    def _source(self, sender: Hashable | None) -> Source:
        """Who delivered a block, as blame knows peers: peer id and member."""
        if sender is None:
            return b"", ""  # no block received (never in practice): blamed as nobody
        link = cast(PeerLink, sender)  # the picker's peers are the swarm's links
        member = self._member.get(link.peer_id)
        if member is None:  # not admitted through the swarm (never in practice)
            member = self.members.of(link.peer_id, link.address[0])
        return link.peer_id, member

    # -- what peers have ------------------------------------------------------------

    def on_bitfield(self, peer: PeerState, bits: bytes) -> None:
        conn = peer.conn
        pieces = m.pieces_from_bitfield(bits, self.info.num_pieces)
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
        self.update_interest(peer)

    def on_have(self, peer: PeerState, index: int) -> None:
        self.picker.peer_has(peer.conn, index)
        self.update_interest(peer)

    def on_have_all(self, peer: PeerState) -> None:
        self.picker.remove_peer(peer.conn)
        self.picker.add_peer_have_all(peer.conn)
        peer.is_seed = True
        self.update_interest(peer)

    def on_choke(self, peer: PeerState) -> None:
        if not peer.conn.fast:
            # Without the fast extension a choke discards our requests.
            self.picker.cancel_all(peer.conn)
            peer.outstanding = 0

    def on_reject(self, peer: PeerState, msg: m.Reject) -> None:
        self.picker.on_request_rejected(peer.conn, Block(msg.index, msg.begin, msg.length))
        peer.outstanding = max(0, peer.outstanding - 1)

    def useful(self, peer: PeerState) -> bool:
        return self.picker.interesting(peer.conn)

    # -- asking -----------------------------------------------------------------------

    def update_interest(self, peer: PeerState) -> None:
        wanted = self.active and self.picker.interesting(peer.conn)
        if wanted != peer.conn.protocol.am_interested:
            peer.conn.send(m.Interested() if wanted else m.NotInterested())

    def request_more(self, peer: PeerState) -> None:
        protocol = peer.conn.protocol
        if not self.active or protocol.peer_choking or not protocol.am_interested:
            return
        window = self._window(peer)
        room = window - peer.outstanding
        if room < window // 2:
            return  # top up in bursts: fewer, larger writes
        blocks = self.picker.pick(peer.conn, room)
        if not blocks and not peer.outstanding and self._stalled():
            blocks = self.picker.pick_duplicates(peer.conn, END_GAME_BLOCKS)
        if blocks:
            if not peer.outstanding:  # we wait for it from now on, not since its last block
                peer.last_block_at = self.clock()
            peer.outstanding += len(blocks)
            peer.conn.write(protocol.encode_requests(blocks))  # a Block is (index, begin, length)

    def _stalled(self) -> bool:
        """Starved (see PiecePicker.starved), and a peer we asked has sent nothing for a
        while: its blocks are worth asking of an idle peer too."""
        now = self.clock()
        return (
            any(
                p.outstanding and now - p.last_block_at > STARVED_PATIENCE
                for p in self.peers.values()
            )
            and self.picker.starved
        )

    def _window(self, peer: PeerState) -> int:
        """Requests to keep outstanding with ``peer``: its rate to us (bytes per tick of
        about a second) times QUEUE_SECONDS, in blocks; all it may take until measured."""
        if peer.rate_down <= 0:
            return REQUESTS_IN_FLIGHT
        blocks = int(peer.rate_down * QUEUE_SECONDS) // self.picker.block_size
        return min(REQUESTS_IN_FLIGHT, max(MIN_REQUESTS_IN_FLIGHT, blocks))

    def flush_haves(self) -> None:
        if not self._have_buffer:
            return
        haves, self._have_buffer = self._have_buffer, []
        for peer in list(self.peers.values()):
            protocol = peer.conn.protocol
            if not peer.is_seed:  # a seed wants nothing: one socket write saved per piece
                peer.conn.write(protocol.encode_haves(haves))
            if protocol.am_interested and not self.picker.interesting(peer.conn):
                peer.conn.send(m.NotInterested())

    def _cancel(self, others: list[Hashable], block: Block) -> None:
        for other in others:
            other_state = self.peers.get(cast(PeerLink, other))
            if other_state is not None:
                other_state.conn.send(m.Cancel(block.index, block.begin, block.length))
                other_state.outstanding = max(0, other_state.outstanding - 1)

    # -- receiving --------------------------------------------------------------------

    def on_block(self, peer: PeerState, msg: m.Piece) -> None:
        self.on_blocks(peer, [(msg.index, msg.begin, msg.block)])

    def on_blocks(self, peer: PeerState, blocks: Sequence[tuple[int, int, Buffer]]) -> None:
        """Blocks received from ``peer`` in a row (a receive callback's, usually): counted
        first, then the peer is asked for more at once, so that it sends while we hash and
        write these (asking only after them left both sides waiting in turn); then they
        are hashed, queued for writing, and the pieces they complete are judged."""
        nbytes = sum([len(data) for _, _, data in blocks])
        peer.outstanding = max(0, peer.outstanding - len(blocks))
        peer.last_block_at = now = self.clock()
        peer.downloaded += nbytes
        self.downloaded += nbytes
        if not self.active:
            return
        conn = peer.conn
        receive = self.picker.receive
        solo = self._solo_progress
        wanted = []
        for index, begin, data in blocks:
            block = Block(index, begin, len(data))
            others = receive(conn, block)
            if others is None:
                continue  # a late duplicate (end-game, or after a choke)
            if others:
                self._cancel(others, block)
            if solo and index in solo:
                solo[index] = now
            wanted.append((index, begin, data))
        if not wanted:
            return
        self.request_more(peer)
        conn.flush()
        hash_in_order, queue_write = self._hash_in_order, self._queue_write
        piece_length = self.info.piece_length
        touched: dict[int, None] = {}  # pieces, in the order first seen
        for index, begin, data in wanted:
            queue_write(piece_length * index + begin, data)
            hash_in_order(index, begin, data)
            touched[index] = None
        for index in touched:
            if self.active and self.picker.piece_complete(index):
                self._check_piece(index)

    def _queue_write(self, offset: int, data: Buffer) -> None:
        """Blocks wait here until the end of the receive callback; contiguous ones
        then go to disk in one pwritev (the views stay valid until then)."""
        pending = self._pending_writes
        if pending:
            start, length, views = pending[-1]
            if start + length == offset:
                views.append(data)
                pending[-1] = (start, length + len(data), views)
                return
        pending.append((offset, len(data), [data]))

    def flush_writes(self) -> None:
        pending, self._pending_writes = self._pending_writes, []
        for offset, _, views in pending:
            self.storage.write_blocks(offset, views)

    def _hash_in_order(self, index: int, begin: int, data: Buffer) -> None:
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

    def _senders(self, index: int) -> list[Source]:
        return [self._source(c) for c in self.picker.senders(index)]

    def _check_piece(self, index: int) -> None:
        if self._piece_is_good(index):
            # Written before it counts as verified: resume data trusts verified pieces, so
            # a piece whose write failed (disk full) must stay missing, not pass for good.
            self.flush_writes()
            if self.blame.suspect(index):  # a good copy at last: whose blocks differed?
                members = {member for _, member in self._senders(index)}
                sole = members.pop() if len(members) == 1 else None
                self._ban_all(self.blame.piece_verified(index, self._digests(index), sole))
            self._forget_refetch(index)
            self.picker.on_piece_verified(index)
            self.last_progress = self.clock()
            log.debug("piece %d verified, %d missing", index, self.picker.num_missing)
            self._have_buffer.append(index)
            self._on_verified()
            if self.picker.is_complete:
                log.debug(
                    "complete: %d bytes received, %d blocks not wanted, %d end-game requests",
                    self.downloaded,
                    self.picker.num_duplicates,
                    self.picker.num_end_game_requests,
                )
                self.flush_haves()
                self._on_complete()
            return
        self.flush_writes()
        failed = list(zip(self._senders(index), self._digests(index), strict=True))
        self.picker.on_piece_failed(index)
        self._forget_refetch(index)
        self._ban_all(self.blame.piece_failed(index, failed))
        self._fetch_alone(index)

    def _digests(self, index: int) -> list[bytes]:
        """Block digests of the piece as on disk (only for pieces that failed once)."""
        data = self.storage.read(self.storage.piece_offset(index), self.info.piece_size(index))
        return block_digests(data, self.picker.block_size)

    # -- bad data ---------------------------------------------------------------------

    def _fetch_alone(self, index: int, *, instead_of: PeerLink | None = None) -> None:
        """Have a failed piece re-fetched from one peer: the lowest ranked that has it
        and has not yet let this re-fetch stall (``instead_of``: the owner that just did);
        once every one has, a new round (but not ``instead_of`` unless it is alone).
        Never another peer id of a member whose blocks of this piece already failed."""
        if not self.active or self.picker.has_piece(index):
            return
        tried = self._solo_tried.setdefault(index, set())
        if instead_of is not None:
            tried.add(instead_of.peer_id)
            self.blame.stalled(self._source(instead_of))
        able = [
            p
            for p in self.peers.values()
            if p.conn.peer_id not in self.banned
            and self.picker.peer_has_piece(p.conn, index)
            and self.blame.may_refetch(index, self._source(p.conn))
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
                self.blame.rank(self._source(p.conn)),
                p.conn.protocol.peer_choking,
                self.rng.random(),
            ),
        )
        for other, block in self.picker.set_solo(index, best.conn):
            self._cancel([other], block)
        self._hashers[index] = None  # blocks may have been dropped: read the piece back
        self._solo_progress[index] = self.clock()
        self.update_interest(best)
        self.request_more(best)

    def _forget_refetch(self, index: int) -> None:
        self._solo_progress.pop(index, None)
        self._solo_tried.pop(index, None)

    def watch_refetches(self, now: float) -> None:
        """Move a re-fetch on from an owner that left, chokes us or sends nothing."""
        for index in self.blame.suspect_pieces():
            owner = cast(PeerLink | None, self.picker.solo_owner(index))
            state = None if owner is None else self.peers.get(owner)
            if state is None:
                self._fetch_alone(index)
            elif (
                state.conn.protocol.peer_choking
                or now - self._solo_progress.get(index, now) > SOLO_PATIENCE
            ):
                self._fetch_alone(index, instead_of=owner)

    def _ban_all(self, members: set[str]) -> None:
        for member in members - {""}:
            self._ban(member)

    def _ban(self, member: str) -> None:
        """Every peer id of the member: those seen and those the trackers listed."""
        log.info("banning %s: sent data that failed the hash check", member)
        self.banned_members.add(member)
        self.banned |= {pid for pid, m in self._member.items() if m == member}
        self.banned |= self.members.peer_ids(member)
        for conn in [c for c in self.peers if c.peer_id in self.banned]:
            conn.drop("sent data that failed the hash check")
