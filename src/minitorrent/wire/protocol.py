"""Sans-IO BitTorrent peer connection: bytes in -> events out, message -> bytes.

No sockets, no clock, no asyncio.  The receive side is built for
``asyncio.BufferedProtocol``: the connection owns ONE preallocated bytearray;
``get_buffer()`` hands out its free tail, ``buffer_updated(n)`` parses every
complete frame in it.

    !!! A received ``Piece.block`` is a read-only memoryview INTO THAT BUFFER. !!!
    !!! It is valid only until the next call into this PeerProtocol.           !!!
    Hash/write it (or ``bytes()`` it) before calling get_buffer, buffer_updated,
    receive_data or set_torrent again.

``buffer_updated_runs`` is the download's hot path: consecutive Piece frames come as
one ``Blocks`` event of ``(index, begin, block)`` tuples (same views, same validity),
so that a receive callback's blocks are handled as one batch, without an object and
a dispatch per block. ``buffer_updated`` gives one Piece event per block.

Errors: ``ProtocolError`` = the peer broke the rules (drop the connection; the
protocol then refuses further input).  ``ValueError`` = we called it wrongly.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias, cast

from minitorrent.errors import ProtocolError
from minitorrent.wire.messages import (
    BITFIELD,
    DEFAULT_RESERVED,
    EXTENDED,
    HANDSHAKE_LENGTH,
    HANDSHAKE_PREFIX,
    HAVE,
    MAX_BLOCK,
    MAX_MESSAGE_LENGTH,
    PIECE,
    PIECE_HEADER,
    REQUEST,
    AllowedFast,
    Bitfield,
    Cancel,
    Choke,
    Extended,
    Handshake,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    KeepAlive,
    Message,
    NotInterested,
    Piece,
    Port,
    Reject,
    Request,
    Suggest,
    Unchoke,
    check_bitfield,
    encode,
    encode_requests,
)
from minitorrent.wire.states import ALLOWED, ALLOWED_TO_RECEIVE, FAST_TYPES, TRANSITIONS, State

__all__ = [
    "ALLOWED",
    "DEFAULT_BUFFER_SIZE",
    "MIN_BUFFER_SIZE",
    "Blocks",
    "Event",
    "PeerProtocol",
    "ReceivedBlock",
    "RunEvent",
    "State",
]

Event: TypeAlias = Message
ReceivedBlock: TypeAlias = tuple[int, int, memoryview]
"""A received block: piece index, offset in the piece, a view of its bytes."""


@dataclass(slots=True)
class Blocks:
    """Consecutive Piece frames, in the order received (see ``buffer_updated_runs``)."""

    blocks: list[ReceivedBlock]


RunEvent: TypeAlias = Message | Blocks
DEFAULT_BUFFER_SIZE: Final = 4 * 1024 * 1024
MIN_BUFFER_SIZE: Final = 4 + MAX_MESSAGE_LENGTH
"""The largest frame must fit in the receive buffer."""


# Fixed-size messages: id -> (type, payload size, payload struct or None).
_Spec: TypeAlias = tuple[type[Message], int, "struct.Struct | None"]
_I, _III, _H = struct.Struct(">I"), struct.Struct(">III"), struct.Struct(">H")
_BEP3_FIXED: Final[dict[int, _Spec]] = {
    0: (Choke, 0, None),
    1: (Unchoke, 0, None),
    2: (Interested, 0, None),
    3: (NotInterested, 0, None),
    4: (Have, 4, _I),
    6: (Request, 12, _III),
    8: (Cancel, 12, _III),
    9: (Port, 2, _H),
}
_FAST_FIXED: Final[dict[int, _Spec]] = {
    0x0D: (Suggest, 4, _I),
    0x0E: (HaveAll, 0, None),
    0x0F: (HaveNone, 0, None),
    0x10: (Reject, 12, _III),
    0x11: (AllowedFast, 4, _I),
}
_EMPTY: Final[dict[type[Message], Message]] = {
    cls: cls() for cls in (Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone)
}
_KEEP_ALIVE: Final = KeepAlive()
_LENGTH = struct.Struct(">I")
_INDEX_BEGIN = struct.Struct(">II")
_HAVE = struct.Struct(">IBI")


class PeerProtocol:
    """One peer connection's parser and state (see the module docstring)."""

    def __init__(
        self, our_reserved: bytes = DEFAULT_RESERVED, *, buffer_size: int = DEFAULT_BUFFER_SIZE
    ) -> None:
        if len(our_reserved) != 8:
            raise ValueError("our_reserved must be 8 bytes")
        if buffer_size < MIN_BUFFER_SIZE:
            raise ValueError(f"buffer_size must be at least {MIN_BUFFER_SIZE}")
        self.our_reserved = bytes(our_reserved)
        self._buf = bytearray(buffer_size)
        self._mv = memoryview(self._buf)
        self._ro = self._mv.toreadonly()  # Piece blocks are slices of this
        self._start = 0  # first unparsed byte
        self._end = 0  # end of received data
        self._scanned = 0  # AWAIT_TORRENT: prefixes checked up to _start + _scanned
        self._error: str | None = None
        self._state = State.AWAIT_HANDSHAKE
        self._send_state = State.AWAIT_HANDSHAKE
        self.peer_handshake: Handshake | None = None
        self.fast_enabled = False  # BEP 6 negotiated (both sides set the bit)
        self.extensions_enabled = False  # BEP 10 negotiated
        self._fixed: dict[int, _Spec] = _BEP3_FIXED
        self._num_pieces = -1  # -1: set_torrent() not called yet
        self._piece_length = self._last_index = self._last_size = 0
        self.peer_choking = True
        self.peer_interested = False
        self.am_choking = True
        self.am_interested = False

    @property
    def state(self) -> State:
        return self._state

    @property
    def handshake_received(self) -> bool:
        return self.peer_handshake is not None

    # --- receiving ----------------------------------------------------------------------

    def set_torrent(self, num_pieces: int, piece_length: int, total_length: int) -> list[Event]:
        """Give the torrent's geometry (once).  Returns the events of frames that were
        waiting for it -- do not drop them.  May also be called before the handshake."""
        if self._num_pieces >= 0:
            raise ValueError("set_torrent() was already called")
        if piece_length <= 0 or total_length < 0:
            raise ValueError("piece_length must be > 0 and total_length >= 0")
        if num_pieces != -(-total_length // piece_length):
            raise ValueError(f"{num_pieces} pieces do not match {total_length}/{piece_length}")
        self._num_pieces, self._piece_length = num_pieces, piece_length
        self._last_index = num_pieces - 1
        self._last_size = total_length - piece_length * (num_pieces - 1)
        if self._state is State.AWAIT_TORRENT:
            self._state = State.FIRST_MESSAGE
            return _one_per_piece(self._parse())
        return []

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """The free tail of the receive buffer (for ``BufferedProtocol.get_buffer``).
        Invalidates the blocks of previously returned Piece events."""
        self._raise_if_failed()
        if self._start == self._end:
            self._start = self._end = 0
        elif len(self._buf) - self._end < MIN_BUFFER_SIZE:  # low on space: compact
            n = self._end - self._start
            src = self._mv[self._start : self._end]
            self._buf[:n] = src if self._start >= n else bytes(src)  # no overlapping copy
            self._start, self._end = 0, n
        return self._mv[self._end :]

    def grow_buffer(self, size: int) -> None:
        """Enlarge the receive buffer to ``size`` bytes, keeping unparsed data. Like
        get_buffer, this invalidates the blocks of previously returned Piece events."""
        self._raise_if_failed()
        if size <= len(self._buf):
            return
        n = self._end - self._start
        grown = bytearray(size)
        grown[:n] = self._mv[self._start : self._end]
        self._buf, self._mv = grown, memoryview(grown)
        self._ro = self._mv.toreadonly()
        self._start, self._end = 0, n

    def buffer_updated(self, nbytes: int) -> list[Event]:
        """``nbytes`` were written at the start of the last ``get_buffer()`` view."""
        return _one_per_piece(self.buffer_updated_runs(nbytes))

    def buffer_updated_runs(self, nbytes: int) -> list[RunEvent]:
        """:meth:`buffer_updated`, with each run of consecutive Piece frames as one
        ``Blocks`` event."""
        if not 0 <= nbytes <= len(self._buf) - self._end:
            raise ValueError(f"buffer_updated({nbytes}) exceeds the buffer given out")
        self._end += nbytes
        return self._parse()

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Convenience path: copy ``data`` in (in chunks if needed) and parse it.  Blocks of
        all but the last chunk's Piece events are copied to bytes; the rest are views."""
        view = memoryview(data).cast("B")
        events: list[Event] = []
        while True:
            free = self.get_buffer()
            n = min(len(free), len(view))
            free[:n] = view[:n]
            view = view[n:]
            new = self.buffer_updated(n)
            if not view:
                events.extend(new)
                return events
            # the next get_buffer() may overwrite these blocks: copy them out
            events.extend(
                Piece(m.index, m.begin, bytes(m.block)) if isinstance(m, Piece) else m for m in new
            )

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise ProtocolError(f"connection already failed: {self._error}")

    def _parse(self) -> list[RunEvent]:
        self._raise_if_failed()
        try:
            events: list[RunEvent] = []
            if self._state is State.AWAIT_HANDSHAKE:
                self._parse_handshake(events)
            if self._state is State.AWAIT_TORRENT:
                self._scan_prefixes()
            elif self._state is not State.AWAIT_HANDSHAKE:
                self._parse_frames(events)
            return events
        except ProtocolError as exc:
            self._error = exc.message
            raise

    def _parse_handshake(self, events: list[RunEvent]) -> None:
        pos, have = self._start, self._end - self._start
        n = min(have, len(HANDSHAKE_PREFIX))
        if self._buf[pos : pos + n] != HANDSHAKE_PREFIX[:n]:
            raise ProtocolError("peer did not start with a BitTorrent handshake")
        if have < HANDSHAKE_LENGTH:
            return
        b = bytes(self._mv[pos + 20 : pos + HANDSHAKE_LENGTH])
        hs = Handshake(info_hash=b[8:28], peer_id=b[28:48], reserved=b[:8])
        ours = Handshake(hs.info_hash, hs.peer_id, self.our_reserved)
        self.fast_enabled = hs.supports_fast and ours.supports_fast
        self.extensions_enabled = hs.supports_extensions and ours.supports_extensions
        self._fixed = {**_BEP3_FIXED, **_FAST_FIXED} if self.fast_enabled else _BEP3_FIXED
        self.peer_handshake = hs
        self._start = pos + HANDSHAKE_LENGTH
        self._state = TRANSITIONS[State.AWAIT_HANDSHAKE, Handshake]
        if self._num_pieces >= 0:
            self._state = State.FIRST_MESSAGE
        events.append(hs)

    def _scan_prefixes(self) -> None:
        """Before set_torrent(): keep frames buffered, but refuse oversized ones now."""
        pos, end = self._start + self._scanned, self._end
        while end - pos >= 4:
            pos = self._frame_end(pos)
        self._scanned = pos - self._start
        if self._end - self._start >= len(self._buf):
            raise ProtocolError("peer filled the receive buffer before the torrent was known")

    def _frame_end(self, pos: int) -> int:
        length: int = _LENGTH.unpack_from(self._buf, pos)[0]
        if length > MAX_MESSAGE_LENGTH:
            if self._buf[pos : pos + 4] == HANDSHAKE_PREFIX[:4]:
                raise ProtocolError("peer sent a second handshake")
            raise ProtocolError(f"message length {length} exceeds {MAX_MESSAGE_LENGTH}")
        return pos + 4 + length

    def _parse_frames(self, events: list[RunEvent]) -> None:
        buf, ro, pos, end = self._buf, self._ro, self._start, self._end
        state = self._state
        allowed = ALLOWED_TO_RECEIVE[state]
        append = events.append
        length_at = _LENGTH.unpack_from
        index_begin_at = _INDEX_BEGIN.unpack_from
        run: list[ReceivedBlock] | None = None  # the Blocks event being filled
        msg: Message | None
        while end - pos >= 4:
            length = length_at(buf, pos)[0]
            if length > MAX_MESSAGE_LENGTH:
                self._frame_end(pos)  # raises, saying why
            frame_end = pos + 4 + length
            if frame_end > end:
                break
            mid = buf[pos + 4] if length else -1
            if mid == PIECE:  # the hot path: allowed in every state parsed here
                size = length - 9
                if size < 0:
                    raise ProtocolError("piece message shorter than its 8-byte header")
                index, begin = index_begin_at(buf, pos + 5)
                problem = self._range_problem(index, begin, size)
                if problem is not None:
                    raise ProtocolError(f"bad piece: {problem}")
                if state is State.FIRST_MESSAGE:
                    state = self._state = TRANSITIONS[state, Piece]
                    allowed = ALLOWED_TO_RECEIVE[state]
                if run is None:
                    run = []
                    append(Blocks(run))
                run.append((index, begin, ro[pos + 13 : frame_end]))
                pos = frame_end
                continue
            if mid == REQUEST and length == 13:  # the uploader's hot path
                index, begin, size = _III.unpack_from(buf, pos + 5)
                problem = self._range_problem(index, begin, size)
                if problem is not None:
                    raise ProtocolError(f"bad Request: {problem}")
                msg = Request(index, begin, size)
            elif mid < 0:
                msg = _KEEP_ALIVE
            else:
                msg = self._decode(mid, pos + 5, frame_end)
            pos = frame_end
            if msg is None:
                continue  # unknown message id: skipped, as real clients do
            cls = type(msg)
            if cls not in allowed:
                raise ProtocolError(f"{cls.__name__} is not allowed {state.value}")
            if state is State.FIRST_MESSAGE:
                state = self._state = TRANSITIONS.get((state, cls), state)
                allowed = ALLOWED_TO_RECEIVE[state]
            if cls is Choke or cls is Unchoke:
                self.peer_choking = cls is Choke
            elif cls is Interested or cls is NotInterested:
                self.peer_interested = cls is Interested
            append(msg)
            run = None
        self._start = pos

    def _decode(self, mid: int, off: int, end: int) -> Message | None:
        """Decode a non-piece frame's payload ``buf[off:end]``; None for an unknown id."""
        size = end - off
        spec = self._fixed.get(mid)
        if spec is not None:
            cls, expected, fmt = spec
            if size != expected:
                raise ProtocolError(f"{cls.__name__} message with {size} payload bytes")
            msg = _EMPTY[cls] if fmt is None else cls(*fmt.unpack_from(self._buf, off))
        elif mid == BITFIELD:
            msg = Bitfield(bytes(self._mv[off:end]))
        elif mid == EXTENDED and self.extensions_enabled:
            if size < 1:
                raise ProtocolError("extended message without an extension id")
            msg = Extended(self._buf[off], bytes(self._mv[off + 1 : end]))
        elif mid in _FAST_FIXED or mid == EXTENDED:
            kind = "extension protocol" if mid == EXTENDED else "fast extension"
            raise ProtocolError(f"message id {mid} without the {kind} negotiated")
        else:
            return None
        problem = self._problem(msg)
        if problem is not None:
            raise ProtocolError(f"bad {type(msg).__name__}: {problem}")
        return msg

    # --- checks shared by both directions -------------------------------------------------

    def _problem(self, msg: Message) -> str | None:
        """What is wrong with ``msg`` for this torrent, or None."""
        if self._num_pieces < 0:
            return None
        if isinstance(msg, Have | Suggest | AllowedFast):
            if not 0 <= msg.index < self._num_pieces:
                return f"piece index {msg.index} not below {self._num_pieces}"
        elif isinstance(msg, Request | Cancel | Reject):
            return self._range_problem(msg.index, msg.begin, msg.length)
        elif isinstance(msg, Piece):
            return self._range_problem(msg.index, msg.begin, len(msg.block))
        elif isinstance(msg, Bitfield):
            return check_bitfield(msg.bits, self._num_pieces)
        return None

    def _range_problem(self, index: int, begin: int, length: int) -> str | None:
        if not 0 <= index < self._num_pieces:
            return f"piece index {index} not below {self._num_pieces}"
        if not 0 < length <= MAX_BLOCK:
            return f"block length {length} not in 1..{MAX_BLOCK}"
        size = self._last_size if index == self._last_index else self._piece_length
        if not 0 <= begin <= size - length:
            return f"block {begin}+{length} is past the end of piece {index} ({size} bytes)"
        return None

    # --- sending --------------------------------------------------------------------------

    def send(self, msg: Message) -> bytes:
        """Encode ``msg`` and track our state; ValueError if we may not send it now."""
        cls = type(msg)
        state = self._send_state
        if cls not in ALLOWED[state]:
            raise ValueError(f"cannot send {cls.__name__} {state.value}")
        if cls in FAST_TYPES and not self.fast_enabled:
            raise ValueError(f"cannot send {cls.__name__}: fast extension not negotiated")
        if cls is Extended and not self.extensions_enabled:
            raise ValueError("cannot send Extended: extension protocol not negotiated")
        if isinstance(msg, Handshake) and msg.reserved != self.our_reserved:
            raise ValueError("handshake reserved bytes differ from our_reserved")
        problem = self._problem(msg)
        if problem is not None:
            raise ValueError(f"cannot send {cls.__name__}: {problem}")
        data = encode(msg)
        if cls is Handshake:
            self._send_state = State.FIRST_MESSAGE
        else:
            self._send_state = TRANSITIONS.get((state, cls), state)
        if cls is Choke or cls is Unchoke:
            self.am_choking = cls is Choke
        elif cls is Interested or cls is NotInterested:
            self.am_interested = cls is Interested
        return data

    # --- sending in bulk (the hot path) ---------------------------------------------------
    # Same checks as send() for these messages, without building message objects.

    def _may_send_frames(self, what: str) -> None:
        if self._send_state is State.AWAIT_HANDSHAKE:
            raise ValueError(f"cannot send {what} {State.AWAIT_HANDSHAKE.value}")
        self._send_state = State.ACTIVE

    def encode_haves(self, indices: Sequence[int]) -> bytes:
        """Have messages for ``indices``, in one buffer."""
        self._may_send_frames("Have")
        for index in indices:
            if not 0 <= index < self._num_pieces:
                raise ValueError(
                    f"cannot send Have: piece index {index} not below {self._num_pieces}"
                )
        pack = _HAVE.pack
        return b"".join([pack(5, HAVE, index) for index in indices])

    def encode_requests(self, blocks: Sequence[tuple[int, int, int]]) -> bytes:
        """Request messages for ``(index, begin, length)`` blocks, in one buffer: only
        while interested in an unchoking peer."""
        if self.peer_choking or not self.am_interested:
            raise ValueError("cannot send Request: the peer chokes us or we are not interested")
        self._may_send_frames("Request")
        check = self._range_problem
        for index, begin, length in blocks:
            problem = check(index, begin, length)
            if problem is not None:
                raise ValueError(f"cannot send Request: {problem}")
        return encode_requests(blocks)

    def piece_frames(self, blocks: Sequence[Request]) -> tuple[bytearray, list[memoryview]]:
        """Piece messages answering ``blocks``, in one new buffer: their headers packed in
        place, and a view of each block's room, to fill (one ``preadv`` per run of blocks
        contiguous in the file) before the buffer is written. Only while we do not choke
        the peer."""
        if self.am_choking:
            raise ValueError("cannot send Piece: we choke the peer")
        self._may_send_frames("Piece")
        check = self._range_problem
        size = 0
        for block in blocks:
            problem = check(block.index, block.begin, block.length)
            if problem is not None:
                raise ValueError(f"cannot send Piece: {problem}")
            size += 13 + block.length
        buffer = bytearray(size)
        view = memoryview(buffer)
        pack = PIECE_HEADER.pack_into
        rooms = []
        pos = 0
        for block in blocks:
            length = block.length
            pack(buffer, pos, 9 + length, PIECE, block.index, block.begin)
            pos += 13
            rooms.append(view[pos : pos + length])
            pos += length
        return buffer, rooms


def _one_per_piece(events: list[RunEvent]) -> list[Event]:
    """Events with each ``Blocks`` run spelled out as Piece events."""
    if not any(type(e) is Blocks for e in events):
        return cast(list[Event], events)
    out: list[Event] = []
    for event in events:
        if isinstance(event, Blocks):
            out.extend(Piece(index, begin, block) for index, begin, block in event.blocks)
        else:
            out.append(event)
    return out
