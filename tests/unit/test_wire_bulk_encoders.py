"""The protocol's bulk encoders: the same bytes and the same checks as ``send``."""

from __future__ import annotations

import pytest

from minitorrent import wire
from minitorrent.wire.protocol import PeerProtocol, State

INFO_HASH = b"i" * 20
PIECE_LENGTH = 32 * 1024
LENGTH = 3 * PIECE_LENGTH + 100  # 4 pieces, the last one 100 bytes


def _active() -> PeerProtocol:
    """Both handshakes done, the torrent known, the peer unchoked us and we are
    interested and unchoked it."""
    protocol = PeerProtocol()
    protocol.set_torrent(4, PIECE_LENGTH, LENGTH)
    protocol.send(wire.Handshake(INFO_HASH, b"u" * 20))
    protocol.receive_data(
        wire.encode(wire.Handshake(INFO_HASH, b"p" * 20))
        + wire.encode(wire.HaveNone())
        + wire.encode(wire.Unchoke())
    )
    protocol.send(wire.Interested())
    protocol.send(wire.Unchoke())
    return protocol


def test_they_encode_what_send_encodes() -> None:
    protocol = _active()
    assert protocol.encode_haves([0, 3]) == wire.encode(wire.Have(0)) + wire.encode(wire.Have(3))
    blocks = [(0, 0, 16384), (3, 0, 100)]
    assert protocol.encode_requests(blocks) == b"".join(
        wire.encode(wire.Request(*b)) for b in blocks
    )
    buffer, rooms = protocol.piece_frames([wire.Request(3, 0, 100), wire.Request(0, 16384, 16384)])
    rooms[0][:] = b"a" * 100
    rooms[1][:] = b"b" * 16384
    assert bytes(buffer) == wire.encode(wire.Piece(3, 0, b"a" * 100)) + wire.encode(
        wire.Piece(0, 16384, b"b" * 16384)
    )


def test_they_move_the_connection_past_its_first_message() -> None:
    protocol = PeerProtocol()
    protocol.set_torrent(4, PIECE_LENGTH, LENGTH)
    protocol.send(wire.Handshake(INFO_HASH, b"u" * 20))
    protocol.encode_haves([1])
    with pytest.raises(ValueError, match="cannot send Bitfield"):
        protocol.send(wire.Bitfield(bytes(1)))
    assert protocol.state is State.AWAIT_HANDSHAKE  # the receiving side is its own


def test_nothing_before_our_handshake() -> None:
    protocol = PeerProtocol()
    protocol.set_torrent(4, PIECE_LENGTH, LENGTH)
    with pytest.raises(ValueError, match="cannot send Have"):
        protocol.encode_haves([0])


@pytest.mark.parametrize(
    ("encode", "message"),
    [
        (lambda p: p.encode_haves([0, 4]), "piece index 4 not below 4"),
        (lambda p: p.encode_requests([(3, 0, 101)]), "past the end of piece 3"),
        (lambda p: p.encode_requests([(0, 0, 0)]), "block length 0"),
        (lambda p: p.piece_frames([wire.Request(5, 0, 10)]), "piece index 5 not below 4"),
        (lambda p: p.piece_frames([wire.Request(3, 0, 101)]), "past the end of piece 3"),
    ],
)
def test_out_of_range_is_refused(encode: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode(_active())  # type: ignore[operator]


def test_no_requests_while_choked_or_not_interested() -> None:
    protocol = _active()
    protocol.receive_data(wire.encode(wire.Choke()))
    with pytest.raises(ValueError, match="chokes us"):
        protocol.encode_requests([(0, 0, 16384)])
    protocol = _active()
    protocol.send(wire.NotInterested())
    with pytest.raises(ValueError, match="not interested"):
        protocol.encode_requests([(0, 0, 16384)])


def test_no_piece_while_we_choke() -> None:
    protocol = _active()
    protocol.send(wire.Choke())
    with pytest.raises(ValueError, match="we choke the peer"):
        protocol.piece_frames([wire.Request(0, 0, 16384)])
