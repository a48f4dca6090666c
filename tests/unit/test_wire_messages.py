"""Message dataclasses, their wire encoding, and the bitfield helpers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorrent.errors import ProtocolError
from minitorrent.wire import (
    BLOCK_SIZE,
    DEFAULT_RESERVED,
    MAX_BLOCK,
    MAX_MESSAGE_LENGTH,
    AllowedFast,
    Bitfield,
    Cancel,
    Choke,
    Event,
    Extended,
    Handshake,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    KeepAlive,
    Message,
    NotInterested,
    PeerProtocol,
    Piece,
    Port,
    Reject,
    Request,
    Suggest,
    Unchoke,
    bitfield_from_pieces,
    encode,
    encode_requests,
    piece_header,
    pieces_from_bitfield,
)

INFO_HASH = bytes(range(20))
PEER_ID = b"-MT0001-abcdefghijkl"
NUM_PIECES, PIECE_LENGTH = 10, 32768
TOTAL_LENGTH = 9 * PIECE_LENGTH + 1000


def copied(events: list[Event]) -> list[Event]:
    """Events with Piece blocks copied out of the receive buffer."""
    return [Piece(e.index, e.begin, bytes(e.block)) if isinstance(e, Piece) else e for e in events]


def parse(data: bytes) -> list[Event]:
    """Parse ``data`` as sent by a fast+extensions peer, after its handshake."""
    proto = PeerProtocol()
    proto.receive_data(encode(Handshake(INFO_HASH, PEER_ID)))
    proto.set_torrent(NUM_PIECES, PIECE_LENGTH, TOTAL_LENGTH)
    return copied(proto.receive_data(data))


def test_constants() -> None:
    assert BLOCK_SIZE == MAX_BLOCK == 16384
    assert MAX_MESSAGE_LENGTH == 128 * 1024 + 13
    assert DEFAULT_RESERVED[5] & 0x10 and DEFAULT_RESERVED[7] & 0x04


def test_handshake_layout_and_bits() -> None:
    hs = Handshake(INFO_HASH, PEER_ID)
    wire = encode(hs)
    assert len(wire) == 68
    assert wire[:20] == b"\x13BitTorrent protocol"
    assert wire[20:28] == DEFAULT_RESERVED
    assert wire[28:48] == INFO_HASH and wire[48:] == PEER_ID
    assert hs.supports_extensions and hs.supports_fast
    plain = Handshake(INFO_HASH, PEER_ID, bytes(8))
    assert not plain.supports_extensions and not plain.supports_fast


@pytest.mark.parametrize(
    ("info_hash", "peer_id", "reserved"),
    [(b"x" * 19, PEER_ID, bytes(8)), (INFO_HASH, b"y" * 21, bytes(8)), (INFO_HASH, PEER_ID, b"")],
)
def test_handshake_rejects_bad_field_lengths(
    info_hash: bytes, peer_id: bytes, reserved: bytes
) -> None:
    with pytest.raises(ValueError):
        Handshake(info_hash, peer_id, reserved)


@pytest.mark.parametrize(
    ("msg", "wire"),
    [
        (KeepAlive(), b"\0\0\0\0"),
        (Choke(), b"\0\0\0\x01\x00"),
        (Unchoke(), b"\0\0\0\x01\x01"),
        (Interested(), b"\0\0\0\x01\x02"),
        (NotInterested(), b"\0\0\0\x01\x03"),
        (Have(0x01020304), b"\0\0\0\x05\x04\x01\x02\x03\x04"),
        (Bitfield(b"\xff\xc0"), b"\0\0\0\x03\x05\xff\xc0"),
        (Request(1, 2, 3), b"\0\0\0\x0d\x06" + b"\0\0\0\x01\0\0\0\x02\0\0\0\x03"),
        (Piece(1, 2, b"ab"), b"\0\0\0\x0b\x07\0\0\0\x01\0\0\0\x02ab"),
        (Cancel(1, 2, 3), b"\0\0\0\x0d\x08" + b"\0\0\0\x01\0\0\0\x02\0\0\0\x03"),
        (Port(6881), b"\0\0\0\x03\x09\x1a\xe1"),
        (Suggest(7), b"\0\0\0\x05\x0d\0\0\0\x07"),
        (HaveAll(), b"\0\0\0\x01\x0e"),
        (HaveNone(), b"\0\0\0\x01\x0f"),
        (Reject(1, 2, 3), b"\0\0\0\x0d\x10" + b"\0\0\0\x01\0\0\0\x02\0\0\0\x03"),
        (AllowedFast(7), b"\0\0\0\x05\x11\0\0\0\x07"),
        (Extended(0, b"d1:v2:mte"), b"\0\0\0\x0b\x14\x00d1:v2:mte"),
    ],
)
def test_known_wire_bytes(msg: Message, wire: bytes) -> None:
    assert encode(msg) == wire


ROUND_TRIP = [
    KeepAlive(),
    Choke(),
    Unchoke(),
    Interested(),
    NotInterested(),
    Have(9),
    Request(9, 0, 1000),
    Piece(9, 999, b"z"),
    Piece(0, 16384, bytes(range(256)) * 64),
    Cancel(3, 16384, 16384),
    Port(65535),
    Suggest(0),
    Reject(1, 0, 16384),
    AllowedFast(5),
    Extended(3, b""),
    Extended(0, b"d1:md11:ut_metadatai3eee"),
]


@pytest.mark.parametrize("msg", ROUND_TRIP, ids=lambda m: type(m).__name__)
def test_round_trip(msg: Message) -> None:
    assert parse(encode(msg)) == [msg]


@pytest.mark.parametrize("first", [Bitfield(b"\xa5\x40"), HaveAll(), HaveNone()])
def test_round_trip_first_messages(first: Message) -> None:
    assert parse(encode(first) + encode(Have(1))) == [first, Have(1)]


def test_piece_block_may_be_memoryview() -> None:
    data = bytearray(b"0123456789")
    assert encode(Piece(1, 2, memoryview(data)[2:5])) == encode(Piece(1, 2, b"234"))


def test_piece_header_matches_encode() -> None:
    block = b"q" * 1234
    assert piece_header(4, 16384, len(block)) == encode(Piece(4, 16384, block))[:13]
    assert len(piece_header(0, 0, 16384)) == 13


def test_encode_requests_is_concatenation() -> None:
    reqs = [(0, 0, 16384), (0, 16384, 16384), (9, 0, 1000)]
    assert encode_requests(reqs) == b"".join(encode(Request(*r)) for r in reqs)
    assert encode_requests([]) == b""
    assert parse(encode_requests(reqs)) == [Request(*r) for r in reqs]


@pytest.mark.parametrize("msg", [Have(-1), Have(2**32), Port(65536), Request(0, -1, 1)])
def test_encode_out_of_range_is_value_error(msg: Message) -> None:
    with pytest.raises(ValueError):
        encode(msg)


# --- bitfields ---------------------------------------------------------------------------


def test_bitfield_from_flags_and_sets() -> None:
    flags = [True, False, True, True, False, False, False, False, True, True]
    assert bitfield_from_pieces(flags, 10) == b"\xb0\xc0"
    assert bitfield_from_pieces({0, 2, 3, 8, 9}, 10) == b"\xb0\xc0"
    assert bitfield_from_pieces(frozenset(), 10) == b"\0\0"
    assert bitfield_from_pieces([True] * 8, 8) == b"\xff"
    assert bitfield_from_pieces([], 0) == b""
    assert pieces_from_bitfield(b"\xb0\xc0", 10) == flags
    assert pieces_from_bitfield(b"", 0) == []


def test_bitfield_from_pieces_our_bugs_are_value_errors() -> None:
    with pytest.raises(ValueError):
        bitfield_from_pieces({10}, 10)
    with pytest.raises(ValueError):
        bitfield_from_pieces({-1}, 10)
    with pytest.raises(ValueError):
        bitfield_from_pieces([True] * 9, 10)


@pytest.mark.parametrize(
    ("bits", "num_pieces", "ok"),
    [
        (b"\xff\xc0", 10, True),  # last real bit set, spare bits clear
        (b"\xff\xe0", 10, False),  # first spare bit set
        (b"\xff\xc1", 10, False),  # last spare bit set
        (b"\xff", 8, True),  # no spare bits
        (b"\xff", 7, False),
        (b"\xfe", 7, True),
        (b"\xff", 9, False),  # too short
        (b"\xff\x80\x00", 9, False),  # too long
        (b"", 0, True),
        (b"\x00", 0, False),
    ],
)
def test_pieces_from_bitfield_checks(bits: bytes, num_pieces: int, ok: bool) -> None:
    if ok:
        assert len(pieces_from_bitfield(bits, num_pieces)) == num_pieces
    else:
        with pytest.raises(ProtocolError):
            pieces_from_bitfield(bits, num_pieces)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=100))
def test_bitfield_round_trip(flags: list[bool]) -> None:
    n = len(flags)
    bits = bitfield_from_pieces(flags, n)
    assert len(bits) == (n + 7) // 8
    assert pieces_from_bitfield(bits, n) == flags
    assert bitfield_from_pieces({i for i, f in enumerate(flags) if f}, n) == bits
