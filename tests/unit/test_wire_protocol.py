"""PeerProtocol: handshake, state table, size/index checks, zero-copy receive, send side."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minitorrent.errors import ProtocolError
from minitorrent.wire import (
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
    State,
    Suggest,
    Unchoke,
    bitfield_from_pieces,
    encode,
    piece_header,
)
from minitorrent.wire.protocol import ALLOWED, MIN_BUFFER_SIZE, Blocks

INFO_HASH = bytes(range(20))
NUM_PIECES, PIECE_LENGTH = 10, 32768
LAST_SIZE = 1000
TOTAL_LENGTH = (NUM_PIECES - 1) * PIECE_LENGTH + LAST_SIZE
TORRENT = (NUM_PIECES, PIECE_LENGTH, TOTAL_LENGTH)
NO_EXTENSIONS = bytes(8)
SMALL_BUFFER = MIN_BUFFER_SIZE + 1000  # forces frequent compaction


def copied(events: list[Event]) -> list[Event]:
    """Events with Piece blocks copied out of the receive buffer (they are only views)."""
    return [Piece(e.index, e.begin, bytes(e.block)) if isinstance(e, Piece) else e for e in events]


def handshake(name: bytes, reserved: bytes = DEFAULT_RESERVED) -> Handshake:
    return Handshake(INFO_HASH, name * 20, reserved)


def connected_pair(
    reserved_a: bytes = DEFAULT_RESERVED, reserved_b: bytes = DEFAULT_RESERVED
) -> tuple[PeerProtocol, PeerProtocol]:
    """Two endpoints back to back, handshakes exchanged and torrent set."""
    a, b = PeerProtocol(reserved_a), PeerProtocol(reserved_b)
    assert b.receive_data(a.send(handshake(b"A", reserved_a))) == [handshake(b"A", reserved_a)]
    assert a.receive_data(b.send(handshake(b"B", reserved_b))) == [handshake(b"B", reserved_b)]
    assert a.set_torrent(*TORRENT) == [] and b.set_torrent(*TORRENT) == []
    return a, b


def deliver(src: PeerProtocol, dst: PeerProtocol, *msgs: Message) -> list[Event]:
    """What ``src`` sends, ``dst`` parses."""
    return copied(dst.receive_data(b"".join(src.send(m) for m in msgs)))


def receiver(reserved: bytes = DEFAULT_RESERVED, buffer_size: int = 1 << 20) -> PeerProtocol:
    """A protocol that has received a handshake from a peer with ``reserved`` and knows
    the torrent."""
    proto = PeerProtocol(buffer_size=buffer_size)
    assert proto.receive_data(encode(handshake(b"P", reserved))) == [handshake(b"P", reserved)]
    assert proto.set_torrent(*TORRENT) == []
    return proto


def frame(msg_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IB", 1 + len(payload), msg_id) + payload


# --- two endpoints --------------------------------------------------------------------------


def test_back_to_back_conversation() -> None:
    a, b = connected_pair()
    assert a.fast_enabled and a.extensions_enabled and b.state is State.FIRST_MESSAGE
    bits = bitfield_from_pieces({0, 9}, NUM_PIECES)
    assert deliver(a, b, Extended(0, b"de"), Bitfield(bits), Interested()) == [
        Extended(0, b"de"),
        Bitfield(bits),
        Interested(),
    ]
    assert b.peer_interested and a.am_interested and a.am_choking
    assert deliver(b, a, HaveNone(), Unchoke(), AllowedFast(3)) == [
        HaveNone(),
        Unchoke(),
        AllowedFast(3),
    ]
    assert not a.peer_choking and not b.am_choking
    block = bytes(range(256)) * 64
    assert deliver(a, b, Request(0, 0, MAX_BLOCK), Cancel(0, 0, MAX_BLOCK)) == [
        Request(0, 0, MAX_BLOCK),
        Cancel(0, 0, MAX_BLOCK),
    ]
    assert deliver(b, a, Piece(0, 0, block), Reject(9, 0, LAST_SIZE), Choke()) == [
        Piece(0, 0, block),
        Reject(9, 0, LAST_SIZE),
        Choke(),
    ]
    assert a.peer_choking and b.am_choking
    assert deliver(a, b, NotInterested(), KeepAlive(), Have(9), Suggest(1), Port(6881)) == [
        NotInterested(),
        KeepAlive(),
        Have(9),
        Suggest(1),
        Port(6881),
    ]
    assert not b.peer_interested and b.state is State.ACTIVE


def test_initial_flags() -> None:
    p = PeerProtocol()
    assert (p.am_choking, p.am_interested, p.peer_choking, p.peer_interested) == (
        True,
        False,
        True,
        False,
    )
    assert p.state is State.AWAIT_HANDSHAKE and not p.handshake_received


def test_state_table_covers_every_state() -> None:
    assert set(ALLOWED) == set(State)
    assert ALLOWED[State.AWAIT_TORRENT] == frozenset()
    assert Bitfield in ALLOWED[State.FIRST_MESSAGE] and Bitfield not in ALLOWED[State.ACTIVE]


# --- handshake ------------------------------------------------------------------------------


def test_handshake_from_split_bytes_at_every_point() -> None:
    wire = encode(handshake(b"P")) + encode(Have(1))
    for cut in range(len(wire) + 1):
        proto = PeerProtocol()
        first = proto.receive_data(wire[:cut])
        assert proto.handshake_received == (cut >= 68)
        events = first + proto.receive_data(wire[cut:])
        assert events == [handshake(b"P")]
        assert proto.set_torrent(*TORRENT) == [Have(1)]


@pytest.mark.parametrize(
    "prefix", [b"\x14", b"\x13Bit", b"\x13BitTorrent protocoX", b"GET / HTTP/1.1\r\n"]
)
def test_bad_handshake_refused_early(prefix: bytes) -> None:
    with pytest.raises(ProtocolError, match="handshake"):
        PeerProtocol().receive_data(prefix.replace(b"Bit", b"bit"))


def test_second_handshake_refused() -> None:
    proto = receiver()
    with pytest.raises(ProtocolError, match="second handshake"):
        proto.receive_data(encode(handshake(b"P")))


def test_frames_wait_for_set_torrent() -> None:
    proto = PeerProtocol()
    wire = encode(handshake(b"P")) + encode(HaveAll()) + encode(Have(2)) + encode(Have(3))[:6]
    assert proto.receive_data(wire) == [handshake(b"P")]
    assert proto.state is State.AWAIT_TORRENT
    assert proto.receive_data(encode(Have(3))[6:] + encode(Choke())) == []
    assert proto.set_torrent(*TORRENT) == [HaveAll(), Have(2), Have(3), Choke()]
    assert proto.receive_data(encode(Unchoke())) == [Unchoke()]


def test_set_torrent_before_handshake() -> None:
    proto = PeerProtocol()
    assert proto.set_torrent(*TORRENT) == []
    assert proto.receive_data(encode(handshake(b"P")) + encode(HaveNone())) == [
        handshake(b"P"),
        HaveNone(),
    ]
    with pytest.raises(ValueError):
        proto.set_torrent(*TORRENT)


@pytest.mark.parametrize("geometry", [(9, 32768, TOTAL_LENGTH), (10, 0, 10), (1, 10, -1)])
def test_set_torrent_rejects_bad_geometry(geometry: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        PeerProtocol().set_torrent(*geometry)


def test_oversized_frame_refused_before_set_torrent() -> None:
    proto = PeerProtocol()
    proto.receive_data(encode(handshake(b"P")) + encode(Have(1)))
    with pytest.raises(ProtocolError, match="exceeds"):
        proto.receive_data(struct.pack(">I", MAX_MESSAGE_LENGTH + 1))


def test_flood_before_set_torrent_refused() -> None:
    proto = PeerProtocol(buffer_size=SMALL_BUFFER)
    proto.receive_data(encode(handshake(b"P")))
    with pytest.raises(ProtocolError, match="before the torrent"):
        proto.receive_data(encode(Have(1)) * (SMALL_BUFFER // 9 + 1))


# --- negotiation, unknown ids, payload sizes ------------------------------------------------


@pytest.mark.parametrize("msg", [HaveAll(), HaveNone(), Suggest(1), Reject(1, 0, 10)])
def test_fast_messages_need_both_bits(msg: Message) -> None:
    for ours, theirs in [(NO_EXTENSIONS, DEFAULT_RESERVED), (DEFAULT_RESERVED, NO_EXTENSIONS)]:
        proto = PeerProtocol(ours)
        proto.receive_data(encode(handshake(b"P", theirs)))
        proto.set_torrent(*TORRENT)
        assert not proto.fast_enabled
        with pytest.raises(ProtocolError, match="fast extension"):
            proto.receive_data(encode(msg))


def test_extended_needs_both_bits() -> None:
    proto = receiver(NO_EXTENSIONS)
    assert not proto.extensions_enabled
    with pytest.raises(ProtocolError, match="extension protocol"):
        proto.receive_data(encode(Extended(0, b"de")))


def test_unknown_ids_are_skipped() -> None:
    proto = receiver()
    wire = (
        frame(21, b"junk") + encode(Have(1)) + frame(255) + frame(10, b"x" * 100) + encode(Choke())
    )
    assert proto.receive_data(wire) == [Have(1), Choke()]
    assert proto.state is State.ACTIVE  # Have used up the bitfield slot


@pytest.mark.parametrize(
    ("msg_id", "size"),
    [(i, s) for i in (0, 1, 2, 3, 14, 15) for s in (1,)]
    + [(i, s) for i in (4, 13, 17) for s in (3, 5)]
    + [(i, s) for i in (6, 8, 16) for s in (11, 13)]
    + [(9, 1), (9, 3), (20, 0)],
)
def test_wrong_payload_size_is_fatal(msg_id: int, size: int) -> None:
    with pytest.raises(ProtocolError):
        receiver().receive_data(frame(msg_id, bytes(size)))


def test_piece_shorter_than_header_is_fatal() -> None:
    for size in range(9):
        with pytest.raises(ProtocolError, match="piece"):
            receiver().receive_data(frame(7, bytes(size)))


# --- the first-message slot ---------------------------------------------------------------


def test_have_all_and_have_none_only_first() -> None:
    bits = bitfield_from_pieces({1}, NUM_PIECES)
    for before in [encode(Have(1)), encode(Bitfield(bits)), encode(HaveAll()), encode(Unchoke())]:
        late_messages: list[Message] = [HaveAll(), HaveNone()]
        for late in late_messages:
            with pytest.raises(ProtocolError, match="not allowed"):
                receiver().receive_data(before + encode(late))


def test_a_late_bitfield_is_accepted_as_aria2_sends_one() -> None:
    bits = bitfield_from_pieces({1}, NUM_PIECES)
    later = bitfield_from_pieces({1, 2}, NUM_PIECES)
    events = receiver().receive_data(
        encode(Bitfield(bits)) + encode(Unchoke()) + encode(Bitfield(later))
    )
    assert events == [Bitfield(bits), Unchoke(), Bitfield(later)]


def test_extended_and_keepalive_do_not_use_the_first_slot() -> None:
    # Transmission sends its BEP 10 handshake before its bitfield.
    wire = encode(KeepAlive()) + encode(Extended(0, b"de")) + encode(HaveAll())
    assert receiver().receive_data(wire) == [KeepAlive(), Extended(0, b"de"), HaveAll()]


def test_bitfield_checks() -> None:
    with pytest.raises(ProtocolError, match="spare bits"):
        receiver().receive_data(encode(Bitfield(b"\xff\xe0")))
    with pytest.raises(ProtocolError, match="bytes"):
        receiver().receive_data(encode(Bitfield(b"\xff")))
    assert receiver().receive_data(encode(Bitfield(b"\xff\xc0"))) == [Bitfield(b"\xff\xc0")]


# --- index and range boundaries -------------------------------------------------------------


@pytest.mark.parametrize("cls", [Have, Suggest, AllowedFast])
def test_index_boundary(cls: type[Have | Suggest | AllowedFast]) -> None:
    assert receiver().receive_data(encode(cls(NUM_PIECES - 1))) == [cls(NUM_PIECES - 1)]
    with pytest.raises(ProtocolError, match="index"):
        receiver().receive_data(encode(cls(NUM_PIECES)))


@pytest.mark.parametrize("cls", [Request, Cancel, Reject])
@pytest.mark.parametrize(
    ("length", "ok"), [(0, False), (16383, True), (16384, True), (16385, False)]
)
def test_request_length_boundary(
    cls: type[Request | Cancel | Reject], length: int, ok: bool
) -> None:
    msg = cls(0, 0, length)
    if ok:
        assert receiver().receive_data(encode(msg)) == [msg]
    else:
        with pytest.raises(ProtocolError, match="length"):
            receiver().receive_data(encode(msg))


@pytest.mark.parametrize("cls", [Request, Cancel, Reject])
@pytest.mark.parametrize(
    ("end", "ok"), [(LAST_SIZE - 1, True), (LAST_SIZE, True), (LAST_SIZE + 1, False)]
)
def test_last_piece_boundary(cls: type[Request | Cancel | Reject], end: int, ok: bool) -> None:
    msg = cls(NUM_PIECES - 1, end - 100, 100)
    piece = Piece(NUM_PIECES - 1, end - 100, b"d" * 100)
    if ok:
        assert receiver().receive_data(encode(msg)) == [msg]
        assert copied(receiver().receive_data(encode(piece))) == [piece]
    else:
        for bad in (msg, piece):
            with pytest.raises(ProtocolError, match="past the end"):
                receiver().receive_data(encode(bad))


@pytest.mark.parametrize(
    ("end", "ok"), [(PIECE_LENGTH - 1, True), (PIECE_LENGTH, True), (PIECE_LENGTH + 1, False)]
)
def test_full_piece_boundary(end: int, ok: bool) -> None:
    msg = Request(3, end - MAX_BLOCK, MAX_BLOCK)
    if ok:
        assert receiver().receive_data(encode(msg)) == [msg]
    else:
        with pytest.raises(ProtocolError, match="past the end"):
            receiver().receive_data(encode(msg))


@pytest.mark.parametrize(("size", "ok"), [(1, True), (16383, True), (16384, True), (16385, False)])
def test_piece_block_size_boundary(size: int, ok: bool) -> None:
    msg = Piece(0, 0, b"b" * size)
    if ok:
        assert copied(receiver().receive_data(encode(msg))) == [msg]
    else:
        with pytest.raises(ProtocolError, match="length"):
            receiver().receive_data(encode(msg))


def test_request_index_out_of_range() -> None:
    with pytest.raises(ProtocolError, match="index"):
        receiver().receive_data(encode(Request(NUM_PIECES, 0, 1)))


# --- size cap ---------------------------------------------------------------------------------


def test_oversized_prefix_refused_on_the_prefix_alone() -> None:
    proto = receiver()
    assert proto.receive_data(struct.pack(">I", MAX_MESSAGE_LENGTH)[:3]) == []
    with pytest.raises(ProtocolError, match="exceeds"):
        proto.receive_data(b"\xff")  # completes the prefix 0x000201ff > max; no body sent


def test_max_length_prefix_waits_for_body() -> None:
    proto = receiver()
    assert proto.receive_data(struct.pack(">IB", MAX_MESSAGE_LENGTH, 99)) == []
    assert proto.receive_data(bytes(MAX_MESSAGE_LENGTH - 1) + encode(Have(2))) == [Have(2)]


def test_failed_connection_stays_failed() -> None:
    proto = receiver()
    with pytest.raises(ProtocolError):
        proto.receive_data(struct.pack(">I", 2**32 - 1))
    with pytest.raises(ProtocolError, match="already failed"):
        proto.receive_data(encode(Choke()))
    with pytest.raises(ProtocolError, match="already failed"):
        proto.get_buffer()


# --- zero-copy receive --------------------------------------------------------------------------


def test_buffer_arguments() -> None:
    with pytest.raises(ValueError):
        PeerProtocol(buffer_size=MIN_BUFFER_SIZE - 1)
    with pytest.raises(ValueError):
        PeerProtocol(b"short")
    proto = PeerProtocol(buffer_size=MIN_BUFFER_SIZE)
    with pytest.raises(ValueError):
        proto.buffer_updated(len(proto.get_buffer()) + 1)


def piece_stream(count: int) -> tuple[bytes, list[Piece]]:
    pieces = []
    for i in range(count):
        index, begin = i % (NUM_PIECES - 1), (i % 2) * MAX_BLOCK
        size = MAX_BLOCK - (i % 7) * 1000
        pieces.append(Piece(index, begin, bytes([i % 251]) * size))
    return encode(HaveAll()) + b"".join(encode(p) for p in pieces), pieces


def test_zero_copy_path_with_compaction() -> None:
    wire, pieces = piece_stream(300)
    assert len(wire) > 30 * SMALL_BUFFER
    proto = receiver(buffer_size=SMALL_BUFFER)
    events: list[Event] = []
    pos, step, compactions = 0, 1, 0
    while pos < len(wire):
        partial = proto._end - proto._start
        buf = proto.get_buffer()
        if partial and proto._start == 0:
            compactions += 1
        step = step * 7 % 50021 + 1  # chunk sizes 1..50021, rarely frame-aligned
        n = min(step, len(buf), len(wire) - pos)
        buf[:n] = wire[pos : pos + n]
        pos += n
        new = proto.buffer_updated(n)
        assert all(
            isinstance(e.block, memoryview) and e.block.readonly
            for e in new
            if isinstance(e, Piece)
        )
        events += copied(new)  # blocks are only valid until the next call
    assert events == [HaveAll(), *pieces]
    assert compactions > 10


def test_receive_data_larger_than_buffer() -> None:
    wire, pieces = piece_stream(40)
    proto = receiver(buffer_size=SMALL_BUFFER)
    assert copied(proto.receive_data(wire[:-5])) == [HaveAll(), *pieces[:-1]]
    assert copied(proto.receive_data(wire[-5:])) == [pieces[-1]]


def test_piece_block_is_a_view_into_the_buffer() -> None:
    proto = receiver()
    buf = proto.get_buffer()
    data = encode(Piece(0, 0, b"abc"))
    buf[: len(data)] = data
    (event,) = proto.buffer_updated(len(data))
    assert isinstance(event, Piece) and isinstance(event.block, memoryview)
    assert event.block.readonly and bytes(event.block) == b"abc"


# --- send side ----------------------------------------------------------------------------------


def test_send_requires_handshake_first() -> None:
    proto = PeerProtocol()
    with pytest.raises(ValueError, match="cannot send"):
        proto.send(Interested())
    with pytest.raises(ValueError, match="reserved"):
        proto.send(handshake(b"A", NO_EXTENSIONS))
    proto.send(handshake(b"A"))
    with pytest.raises(ValueError, match="cannot send"):
        proto.send(handshake(b"A"))


def test_send_bitfield_only_first() -> None:
    a, _ = connected_pair()
    a.send(Extended(0, b"de"))
    a.send(Bitfield(bitfield_from_pieces({1}, NUM_PIECES)))
    late_messages: list[Message] = [Bitfield(bytes(2)), HaveAll(), HaveNone()]
    for late in late_messages:
        with pytest.raises(ValueError, match="cannot send"):
            a.send(late)


def test_send_checks_negotiation_and_ranges() -> None:
    a, _ = connected_pair(DEFAULT_RESERVED, NO_EXTENSIONS)
    unnegotiated: list[Message] = [HaveAll(), Reject(0, 0, 1), Extended(0, b"")]
    for msg in unnegotiated:
        with pytest.raises(ValueError, match="not negotiated"):
            a.send(msg)
    out_of_range: list[Message] = [
        Request(0, 0, MAX_BLOCK + 1),
        Have(NUM_PIECES),
        Bitfield(b"\xff\xff"),
    ]
    for msg in out_of_range:
        with pytest.raises(ValueError, match="cannot send"):
            a.send(msg)
    assert a.send(Request(9, 0, LAST_SIZE)) == encode(Request(9, 0, LAST_SIZE))
    assert a.send(Piece(9, 0, b"x")) == piece_header(9, 0, 1) + b"x"


# --- properties -----------------------------------------------------------------------------------


@st.composite
def block_range(draw: st.DrawFn) -> tuple[int, int, int]:
    index = draw(st.integers(0, NUM_PIECES - 1))
    size = LAST_SIZE if index == NUM_PIECES - 1 else PIECE_LENGTH
    length = draw(st.integers(1, min(MAX_BLOCK, size)))
    return index, draw(st.integers(0, size - length)), length


@st.composite
def pieces(draw: st.DrawFn) -> Piece:
    index, begin, length = draw(block_range())
    fill = draw(st.binary(min_size=1, max_size=8))
    return Piece(index, begin, (fill * (length // len(fill) + 1))[:length])


indexes = st.integers(0, NUM_PIECES - 1)
active_messages = st.one_of(
    st.sampled_from([KeepAlive(), Choke(), Unchoke(), Interested(), NotInterested()]),
    indexes.map(Have),
    indexes.map(Suggest),
    indexes.map(AllowedFast),
    block_range().map(lambda r: Request(*r)),
    block_range().map(lambda r: Cancel(*r)),
    block_range().map(lambda r: Reject(*r)),
    pieces(),
    st.integers(0, 65535).map(Port),
    st.builds(Extended, st.integers(0, 255), st.binary(max_size=50)),
)
first_messages = st.one_of(
    st.just(HaveAll()),
    st.just(HaveNone()),
    st.lists(st.booleans(), min_size=NUM_PIECES, max_size=NUM_PIECES).map(
        lambda f: Bitfield(bitfield_from_pieces(f, NUM_PIECES))
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(first_messages, max_size=1),
    rest=st.lists(active_messages, max_size=40),
    data=st.data(),
)
def test_any_valid_stream_split_anywhere_parses_back(
    first: list[Message], rest: list[Message], data: st.DataObject
) -> None:
    msgs = first + rest
    proto, callbacks = received(msgs, data)
    events: list[Event] = []
    for n in callbacks:
        events += copied(proto.buffer_updated(n))
    assert events == [handshake(b"P"), *msgs]


def received(msgs: list[Message], data: st.DataObject) -> tuple[PeerProtocol, Iterator[int]]:
    """A protocol, and the receive callbacks that copy the handshake and ``msgs`` into its
    buffer as a socket would, cut anywhere (and where the buffer is full): each yields
    its byte count, to parse."""
    wire = encode(handshake(b"P")) + b"".join(encode(m) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    proto = PeerProtocol(buffer_size=SMALL_BUFFER)
    proto.set_torrent(*TORRENT)
    return proto, _copied_in(proto, wire, cuts)


def _copied_in(proto: PeerProtocol, wire: bytes, cuts: list[int]) -> Iterator[int]:
    for lo, hi in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        chunk = wire[lo:hi]
        while chunk:  # the zero-copy path
            buf = proto.get_buffer()
            n = min(len(buf), len(chunk))
            buf[:n] = chunk[:n]
            chunk = chunk[n:]
            yield n


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(first_messages, max_size=1),
    rest=st.lists(st.one_of(active_messages, pieces(), pieces()), max_size=40),
    data=st.data(),
)
def test_runs_of_blocks_split_anywhere_parse_back(
    first: list[Message], rest: list[Message], data: st.DataObject
) -> None:
    """The batch path: each callback's consecutive Piece frames come as one Blocks run
    of views into the buffer; spelled out, every stream cut anywhere parses back."""
    msgs = first + rest
    proto, callbacks = received(msgs, data)
    events: list[Message] = []
    for n in callbacks:
        new = proto.buffer_updated_runs(n)
        runs = [type(e) is Blocks for e in new]
        assert not any(a and b for a, b in itertools.pairwise(runs))  # a run is whole
        for event in new:
            if not isinstance(event, Blocks):
                events.append(event)
                continue
            assert event.blocks
            for index, begin, block in event.blocks:
                assert isinstance(block, memoryview) and block.readonly
                events.append(Piece(index, begin, bytes(block)))  # valid until the next call
    assert events == [handshake(b"P"), *msgs]


frameish = st.builds(
    lambda length, mid, payload: struct.pack(">IB", length, mid) + payload,
    st.integers(0, 40),
    st.sampled_from([*range(0, 22), 255]),
    st.binary(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(
    reserved=st.sampled_from([DEFAULT_RESERVED, NO_EXTENSIONS]),
    set_torrent=st.booleans(),
    junk=st.lists(st.one_of(st.binary(max_size=30), frameish), max_size=10),
)
def test_random_bytes_give_events_or_protocol_error(
    reserved: bytes, set_torrent: bool, junk: list[bytes]
) -> None:
    proto = PeerProtocol()
    proto.receive_data(encode(handshake(b"P", reserved)))
    try:
        if set_torrent:
            proto.set_torrent(*TORRENT)
        for chunk in junk:
            for event in proto.receive_data(chunk):
                assert type(event) in ALLOWED[State.FIRST_MESSAGE]
    except ProtocolError as exc:
        assert exc.message


def test_grow_buffer_keeps_the_frames_waiting_for_the_torrent() -> None:
    """An incoming peer starts with the smallest buffer; admitted, it grows, and the
    frames that came with its handshake (even one cut in half) still parse."""
    proto = PeerProtocol(buffer_size=MIN_BUFFER_SIZE)
    block = bytes(range(256)) * 64
    data = encode(handshake(b"P")) + encode(Have(3)) + encode(Piece(1, 0, block))
    assert proto.receive_data(data[:-100]) == [handshake(b"P")]
    proto.grow_buffer(4 * MIN_BUFFER_SIZE)
    proto.grow_buffer(MIN_BUFFER_SIZE)  # never shrinks
    assert len(proto.get_buffer()) >= 3 * MIN_BUFFER_SIZE
    assert proto.set_torrent(*TORRENT) == [Have(3)]
    assert copied(proto.receive_data(data[-100:])) == [Piece(1, 0, block)]
