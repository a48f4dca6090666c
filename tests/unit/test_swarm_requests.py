"""How a swarm answers a peer's requests: which misbehaviour ends the connection.

BEP 3 lets requests cross our choke on the wire, so some requests while choked are
legitimate; a request for a piece we lack, or while never unchoked, is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from minitorrent import wire
from minitorrent.metainfo import build_info
from minitorrent.peer.storage import PieceStorage
from minitorrent.peer.swarm import MAX_QUEUED_REQUESTS, Swarm
from minitorrent.wire.protocol import PeerProtocol
from tests.unit.peer_links import connected_protocol

pytestmark = pytest.mark.usefixtures("pieces_of_256_kib")

PL = 256 * 1024
PEER_ID = b"-FK0001-000000000000"


@dataclass(eq=False)
class FakeConn:
    """What the swarm uses of a PeerConnection: it records instead of sending."""

    protocol: PeerProtocol
    fast: bool = False
    peer_id: bytes = PEER_ID
    address: tuple[str, int] = ("10.0.0.1", 6881)
    sent: list[wire.Message] = field(default_factory=list)
    dropped: str = ""
    writable: bool = True

    def send(self, message: wire.Message) -> None:
        self.protocol.send(message)  # it keeps the connection's state
        self.sent.append(message)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def drop(self, reason: str) -> None:
        self.dropped = self.dropped or reason


@pytest.fixture
def swarm(tmp_path: Path) -> Swarm:
    """A swarm that has pieces 0 and 2 of 3."""
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(2 * PL + 1000))
    info = build_info(path, "f.bin", "g")
    storage = PieceStorage.create(tmp_path / "part", info)
    return Swarm(info, storage, have=[True, False, True])


def _connect(swarm: Swarm, *, fast: bool = False, interested: bool = True) -> FakeConn:
    conn = FakeConn(connected_protocol(swarm.info, fast=fast, theirs=PEER_ID), fast=fast)
    assert swarm.accept(conn)  # type: ignore[arg-type]
    if interested:
        swarm.on_message(conn, wire.Interested())  # type: ignore[arg-type]
        assert wire.Unchoke() in conn.sent
    return conn


def _request(swarm: Swarm, conn: FakeConn, index: int = 0) -> None:
    swarm.on_message(conn, wire.Request(index, 0, 16 * 1024))  # type: ignore[arg-type]


def test_a_request_for_a_piece_we_lack_ends_the_connection(swarm: Swarm) -> None:
    conn = _connect(swarm)
    _request(swarm, conn, 0)
    assert not conn.dropped
    _request(swarm, conn, 1)
    assert conn.dropped == "requested a piece we do not have"


@pytest.mark.parametrize("fast", [False, True])
def test_a_request_before_we_ever_unchoked_ends_the_connection(swarm: Swarm, fast: bool) -> None:
    conn = _connect(swarm, fast=fast, interested=False)
    _request(swarm, conn)
    assert conn.dropped == "requested blocks while choked"


@pytest.mark.parametrize("fast", [False, True])
def test_requests_racing_our_choke_are_tolerated_up_to_a_full_queue(
    swarm: Swarm, fast: bool
) -> None:
    conn = _connect(swarm, fast=fast)
    peer = swarm.peers[conn]  # type: ignore[index]
    swarm.upload.choke(peer)
    for _ in range(MAX_QUEUED_REQUESTS):
        _request(swarm, conn)
    assert not conn.dropped
    rejects = [m for m in conn.sent if isinstance(m, wire.Reject)]
    assert len(rejects) == (MAX_QUEUED_REQUESTS if fast else 0)  # BEP 6: say so
    _request(swarm, conn)
    assert conn.dropped == "requested blocks while choked"


def test_the_allowance_starts_again_at_each_choke(swarm: Swarm) -> None:
    conn = _connect(swarm)
    peer = swarm.peers[conn]  # type: ignore[index]
    for _ in range(3):
        swarm.upload.choke(peer)
        for _ in range(MAX_QUEUED_REQUESTS):
            _request(swarm, conn)
        swarm.upload.unchoke(peer)
    assert not conn.dropped


def test_status_counts_the_short_last_piece(swarm: Swarm) -> None:
    assert swarm.status().bytes_done == PL + 1000  # pieces 0 and 2 of PL, PL, 1000 bytes


def test_a_full_bitfield_is_a_seed_and_pieces_come_in_order(tmp_path: Path) -> None:
    """Only seeds connected: nobody to trade with, so the picker goes in order."""
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(6 * PL))
    info = build_info(path, "f.bin", "g")
    storage = PieceStorage.create(tmp_path / "part", info)
    swarm = Swarm(info, storage, have=[False] * 6)
    conn = _connect(swarm)
    swarm.on_message(conn, wire.Bitfield(wire.bitfield_from_pieces([True] * 6, 6)))  # type: ignore[arg-type]
    picked = [swarm.picker.pick(conn, 16)[0].index for _ in range(6)]
    assert picked == list(range(6))
    storage.close()


def test_a_batch_of_requests_is_answered_with_the_file_bytes_in_request_order(
    tmp_path: Path,
) -> None:
    """Requests out of file order, across pieces, some contiguous in the file and some not
    (each run of contiguous blocks is read with one preadv): every answer holds the bytes
    of the file at its block, in the order asked."""
    data = bytes(range(256)) * (3 * PL // 256) + b"tail" * 250  # 3 pieces + a 1000-byte one
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    info = build_info(path, "f.bin", "g")
    seed = Swarm(info, PieceStorage.open_existing(path, info, writable=False), have=[True] * 4)
    conn = RecordingConn(connected_protocol(info, fast=True, theirs=PEER_ID), fast=True)
    assert seed.accept(conn)  # type: ignore[arg-type]
    seed.on_message(conn, wire.Interested())  # type: ignore[arg-type]
    block = 16 * 1024
    asked = [(1, block), (1, 2 * block), (0, 0), (3, 0), (2, PL - block), (0, block), (0, 0)]
    for index, begin in asked:
        length = 1000 if index == 3 else block
        seed.on_message(conn, wire.Request(index, begin, length))  # type: ignore[arg-type]
    seed.after_messages(conn)  # type: ignore[arg-type]
    receiver = connected_protocol(info, fast=True, ours=PEER_ID, theirs=b"-US0001-000000000000")
    got = [
        (e.index, e.begin, bytes(e.block))
        for e in receiver.receive_data(b"".join(conn.written))
        if isinstance(e, wire.Piece)
    ]
    expected = []
    for index, begin in asked:
        offset = index * PL + begin
        expected.append((index, begin, data[offset : offset + (1000 if index == 3 else block)]))
    assert got == expected


@dataclass(eq=False)
class RecordingConn(FakeConn):
    """A FakeConn that keeps the bytes written (the answers to requests)."""

    written: list[bytes] = field(default_factory=list)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))
