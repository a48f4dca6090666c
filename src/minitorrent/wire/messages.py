"""BitTorrent peer wire messages (BEP 3, BEP 6 fast extension, BEP 10 framing).

One frozen, slotted dataclass per message, ``encode(msg)`` for the length-prefixed
wire form, and a few helpers for the fast paths (``piece_header``, ``PIECE_HEADER``,
``encode_requests``) and for bitfields.  Decoding lives in ``protocol.py`` because
it needs connection state (negotiated extensions, number of pieces).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from minitorrent.errors import ProtocolError

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_RESERVED",
    "HANDSHAKE_LENGTH",
    "MAX_BLOCK",
    "MAX_MESSAGE_LENGTH",
    "PIECE_HEADER",
    "PROTOCOL_NAME",
    "AllowedFast",
    "Bitfield",
    "Cancel",
    "Choke",
    "Extended",
    "Handshake",
    "Have",
    "HaveAll",
    "HaveNone",
    "Interested",
    "KeepAlive",
    "Message",
    "NotInterested",
    "Piece",
    "Port",
    "Reject",
    "Request",
    "Suggest",
    "Unchoke",
    "bitfield_from_pieces",
    "bitfield_length",
    "encode",
    "encode_requests",
    "piece_header",
    "pieces_from_bitfield",
]

BLOCK_SIZE: Final = 16384
"""The block size we request."""
MAX_BLOCK: Final = 16384
"""The largest block a request, cancel, reject or piece may carry (BEP 3 practice)."""
MAX_MESSAGE_LENGTH: Final = 128 * 1024 + 13
"""The largest length prefix we accept; a larger one is refused before buffering the body."""

PROTOCOL_NAME: Final = b"BitTorrent protocol"
HANDSHAKE_LENGTH: Final = 68
HANDSHAKE_PREFIX: Final = bytes([len(PROTOCOL_NAME)]) + PROTOCOL_NAME

EXTENSION_BIT: Final = (5, 0x10)  # BEP 10: reserved[5] & 0x10
FAST_BIT: Final = (7, 0x04)  # BEP 6: reserved[7] & 0x04
DEFAULT_RESERVED: Final = bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04])

# Message ids.
CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL, PORT = range(10)
SUGGEST, HAVE_ALL, HAVE_NONE, REJECT, ALLOWED_FAST = range(0x0D, 0x12)
EXTENDED: Final = 20


@dataclass(frozen=True, slots=True)
class Handshake:
    """The 68-byte handshake: pstrlen, pstr, reserved, info_hash, peer_id."""

    info_hash: bytes
    peer_id: bytes
    reserved: bytes = DEFAULT_RESERVED

    def __post_init__(self) -> None:
        if len(self.info_hash) != 20 or len(self.peer_id) != 20 or len(self.reserved) != 8:
            raise ValueError("handshake needs a 20-byte info_hash and peer_id, 8 reserved bytes")

    @property
    def supports_extensions(self) -> bool:
        """BEP 10 extension protocol bit."""
        return bool(self.reserved[EXTENSION_BIT[0]] & EXTENSION_BIT[1])

    @property
    def supports_fast(self) -> bool:
        """BEP 6 fast extension bit."""
        return bool(self.reserved[FAST_BIT[0]] & FAST_BIT[1])


@dataclass(frozen=True, slots=True)
class KeepAlive:
    pass


@dataclass(frozen=True, slots=True)
class Choke:
    pass


@dataclass(frozen=True, slots=True)
class Unchoke:
    pass


@dataclass(frozen=True, slots=True)
class Interested:
    pass


@dataclass(frozen=True, slots=True)
class NotInterested:
    pass


@dataclass(frozen=True, slots=True)
class Have:
    index: int


@dataclass(frozen=True, slots=True)
class Bitfield:
    bits: bytes


@dataclass(frozen=True, slots=True)
class Request:
    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class Piece:
    """A block of data.  A *received* Piece's ``block`` is a read-only memoryview
    into the protocol's receive buffer, valid only until the next call into it."""

    index: int
    begin: int
    block: bytes | memoryview


@dataclass(frozen=True, slots=True)
class Cancel:
    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class Port:
    port: int


@dataclass(frozen=True, slots=True)
class Suggest:
    index: int


@dataclass(frozen=True, slots=True)
class HaveAll:
    pass


@dataclass(frozen=True, slots=True)
class HaveNone:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class AllowedFast:
    index: int


@dataclass(frozen=True, slots=True)
class Extended:
    """BEP 10 message: ``ext_id`` 0 is the extension handshake; the payload is not decoded."""

    ext_id: int
    payload: bytes


Message: TypeAlias = (
    Handshake
    | KeepAlive
    | Choke
    | Unchoke
    | Interested
    | NotInterested
    | Have
    | Bitfield
    | Request
    | Piece
    | Cancel
    | Port
    | Suggest
    | HaveAll
    | HaveNone
    | Reject
    | AllowedFast
    | Extended
)

# --- encoding -------------------------------------------------------------------------

_HEADER = struct.Struct(">IB")
_ONE_INT = struct.Struct(">IBI")
_THREE_INTS = struct.Struct(">IBIII")
PIECE_HEADER = struct.Struct(">IBII")
"""A Piece message's 13 bytes before its block: length, id, index, begin."""
_PORT = struct.Struct(">IBH")
_EXT_HEADER = struct.Struct(">IBB")

_EMPTY_IDS: dict[type[Any], int] = {
    Choke: CHOKE,
    Unchoke: UNCHOKE,
    Interested: INTERESTED,
    NotInterested: NOT_INTERESTED,
    HaveAll: HAVE_ALL,
    HaveNone: HAVE_NONE,
}
_INDEX_IDS: dict[type[Any], int] = {Have: HAVE, Suggest: SUGGEST, AllowedFast: ALLOWED_FAST}
_RANGE_IDS: dict[type[Any], int] = {Request: REQUEST, Cancel: CANCEL, Reject: REJECT}


def _encode_handshake(m: Handshake) -> bytes:
    return b"".join((HANDSHAKE_PREFIX, m.reserved, m.info_hash, m.peer_id))


def _encode_piece(m: Piece) -> bytes:
    return piece_header(m.index, m.begin, len(m.block)) + m.block


def _encode_bitfield(m: Bitfield) -> bytes:
    return _HEADER.pack(1 + len(m.bits), BITFIELD) + m.bits


def _encode_extended(m: Extended) -> bytes:
    return _EXT_HEADER.pack(2 + len(m.payload), EXTENDED, m.ext_id) + m.payload


def _empty_encoder(mid: int) -> Callable[[Any], bytes]:
    data = _HEADER.pack(1, mid)
    return lambda m: data


def _index_encoder(mid: int) -> Callable[[Any], bytes]:
    return lambda m: _ONE_INT.pack(5, mid, m.index)


def _range_encoder(mid: int) -> Callable[[Any], bytes]:
    return lambda m: _THREE_INTS.pack(13, mid, m.index, m.begin, m.length)


_ENCODERS: dict[type[Any], Callable[[Any], bytes]] = {
    Handshake: _encode_handshake,
    KeepAlive: lambda m: b"\0\0\0\0",
    Piece: _encode_piece,
    Bitfield: _encode_bitfield,
    Port: lambda m: _PORT.pack(3, PORT, m.port),
    Extended: _encode_extended,
    **{cls: _empty_encoder(mid) for cls, mid in _EMPTY_IDS.items()},
    **{cls: _index_encoder(mid) for cls, mid in _INDEX_IDS.items()},
    **{cls: _range_encoder(mid) for cls, mid in _RANGE_IDS.items()},
}


def encode(msg: Message) -> bytes:
    """The wire form of ``msg`` (length prefix included; the handshake has none)."""
    try:
        return _ENCODERS[type(msg)](msg)
    except struct.error as exc:
        raise ValueError(f"cannot encode {msg!r}: {exc}") from None


def piece_header(index: int, begin: int, length: int) -> bytes:
    """The 13-byte header of a piece message whose block is ``length`` bytes long."""
    return PIECE_HEADER.pack(9 + length, PIECE, index, begin)


def encode_requests(requests: Iterable[tuple[int, int, int]]) -> bytes:
    """Many request messages in one buffer (one ``transport.write`` for a batch)."""
    pack = _THREE_INTS.pack
    return b"".join([pack(13, REQUEST, i, b, n) for i, b, n in requests])


# --- bitfields ------------------------------------------------------------------------


def bitfield_length(num_pieces: int) -> int:
    """Bytes in a bitfield for ``num_pieces`` pieces."""
    return (num_pieces + 7) // 8


def bitfield_from_pieces(have: Sequence[bool] | AbstractSet[int], num_pieces: int) -> bytes:
    """A bitfield (high bit of byte 0 = piece 0) from flags or from a set of piece indexes."""
    nbytes = bitfield_length(num_pieces)
    value = 0
    if isinstance(have, AbstractSet):
        for index in have:
            if not 0 <= index < num_pieces:
                raise ValueError(f"piece index {index} out of range 0..{num_pieces - 1}")
            value |= 1 << (8 * nbytes - 1 - index)
    else:
        if len(have) != num_pieces:
            raise ValueError(f"{len(have)} flags given for {num_pieces} pieces")
        if num_pieces:
            value = int("".join("1" if h else "0" for h in have), 2) << (8 * nbytes - num_pieces)
    return value.to_bytes(nbytes, "big")


def check_bitfield(bits: bytes | memoryview, num_pieces: int) -> str | None:
    """Why ``bits`` is not a valid bitfield for ``num_pieces`` pieces, or None if it is."""
    expected = bitfield_length(num_pieces)
    if len(bits) != expected:
        return f"bitfield of {len(bits)} bytes, expected {expected} for {num_pieces} pieces"
    spare = 8 * expected - num_pieces
    if spare and bits[-1] & ((1 << spare) - 1):
        return "bitfield has spare bits set past the last piece"
    return None


def pieces_from_bitfield(bits: bytes | memoryview, num_pieces: int) -> list[bool]:
    """Per-piece flags from a peer's bitfield; ProtocolError if its length or spare bits
    are wrong."""
    problem = check_bitfield(bits, num_pieces)
    if problem is not None:
        raise ProtocolError(problem)
    if not num_pieces:
        return []
    flags = format(int.from_bytes(bits, "big"), f"0{8 * len(bits)}b")
    return [c == "1" for c in flags[:num_pieces]]
