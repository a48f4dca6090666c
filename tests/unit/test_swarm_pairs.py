"""Two or three swarms back to back, without sockets: the download path, end-game
and bans, with real wire protocols in between (tests/unit/peer_links.py)."""

from __future__ import annotations

import itertools
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minitorrent import wire
from minitorrent.metainfo import InfoDict, build_info
from minitorrent.peer.downloader import STARVED_PATIENCE
from minitorrent.peer.link import PeerLink
from minitorrent.peer.members import Members
from minitorrent.peer.storage import PieceStorage
from minitorrent.peer.swarm import State, Swarm
from minitorrent.peer.tracker_client import PeerAddress
from minitorrent.peer.uploader import SEED_UPLOAD_SLOTS
from minitorrent.wire.protocol import Blocks, RunEvent
from tests.unit.peer_links import Pair, pump, step

PIECES = 6


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Torrent:
    info: InfoDict
    data: bytes
    path: Path


@pytest.fixture
def torrent(tmp_path: Path, pieces_of_256_kib: None) -> Torrent:
    data = random.Random(7).randbytes(PIECES * 256 * 1024 - 1000)
    path = tmp_path / "seed.bin"
    path.write_bytes(data)
    info = build_info(path, "seed.bin", "g")
    assert info.num_pieces == PIECES
    return Torrent(info, data, path)


def _seed(torrent: Torrent, path: Path | None = None) -> Swarm:
    """A seed serving ``path`` (the good file by default) as hashed: trusted, so a
    poisoned copy is served as it is."""
    path = path or torrent.path
    storage = PieceStorage.open_existing(path, torrent.info, writable=False)
    swarm = Swarm(torrent.info, storage, have=[True] * PIECES, rng=random.Random(1))
    st = os.stat(path)
    swarm.trust_file(st.st_size, st.st_mtime_ns)
    return swarm


def _leecher(
    torrent: Torrent, tmp_path: Path, clock: Clock, members: Members | None = None
) -> tuple[Swarm, list[str]]:
    events: list[str] = []
    storage = PieceStorage.create(tmp_path / "download.part", torrent.info)
    swarm = Swarm(
        torrent.info,
        storage,
        have=[False] * PIECES,
        on_piece_verified=lambda s: events.append("verified"),
        on_finished=lambda s: events.append("finished"),
        rng=random.Random(2),
        clock=clock,
        members=members,
    )
    return swarm, events


def _downloaded(tmp_path: Path) -> bytes:
    return (tmp_path / "download.part").read_bytes()


def test_a_download_from_one_seed(torrent: Torrent, tmp_path: Path) -> None:
    leecher, events = _leecher(torrent, tmp_path, Clock())
    seed = _seed(torrent)
    pair = Pair(leecher, seed)
    assert pair.accepted
    pump(pair)
    assert leecher.state is State.CHECKING  # every piece verified: the node finishes it
    assert events == ["verified"] * PIECES + ["finished"]
    assert _downloaded(tmp_path) == torrent.data
    assert leecher.downloaded == seed.uploaded == len(torrent.data)
    assert leecher.status().bytes_done == len(torrent.data)
    assert leecher.have_bits() == b"\x01" * PIECES
    # Done: it no longer wants anything, and the seed, which saw it announce every
    # piece, closed the connection (both sides are seeds).
    assert not pair.link_a.protocol.am_interested
    assert pair.link_b.dropped == "both sides are seeds"
    counters = leecher.peer_counters()[b"-BB0001-000000000000"]
    assert (counters.downloaded, counters.connected, counters.banned) == (
        len(torrent.data),
        False,
        False,
    )


def test_end_game_takes_the_last_blocks_from_another_peer(torrent: Torrent, tmp_path: Path) -> None:
    """A seed that stops answering with blocks outstanding does not hold up the end:
    once nothing else can be asked for and it has sent nothing for STARVED_PATIENCE,
    its blocks are asked of the other seed too."""
    clock = Clock()
    leecher, events = _leecher(torrent, tmp_path, clock)
    fast = Pair(leecher, _seed(torrent), b_id=b"-FA0001-000000000000")
    silent = Pair(leecher, _seed(torrent), b_id=b"-SI0001-000000000000", b_ip="10.0.0.3")
    step(silent, fast, rounds=2)  # handshakes, bitfields, unchokes: requests ready for both
    assert silent.link_a.outbox, "no requests for the silent seed"
    silent.link_b.outbox.clear()
    silent.link_b.write = lambda data: None  # type: ignore[method-assign]  # it goes quiet
    received: list[wire.Message] = []
    on_message = silent.b.on_message

    def record(link: PeerLink, msg: wire.Message) -> None:
        received.append(msg)
        on_message(link, msg)

    silent.b.on_message = record  # type: ignore[method-assign]
    pump(fast, silent)
    assert "finished" not in events  # only waited for so far
    clock.now += STARVED_PATIENCE + 1
    leecher.tick()
    pump(fast, silent)
    assert events[-1] == "finished"
    assert _downloaded(tmp_path) == torrent.data
    assert any(isinstance(m, wire.Cancel) for m in received), (
        "the blocks got from the other seed were not cancelled at the silent one"
    )
    # Not dropped as stalled (nothing waited for it): the seed closed once we had it all.
    assert silent.link_b.dropped == "both sides are seeds"


def _partial(torrent: Torrent, pieces: int) -> Swarm:
    """A peer that has the first ``pieces`` pieces and nothing else (nobody has the rest)."""
    storage = PieceStorage.open_existing(torrent.path, torrent.info, writable=False)
    return Swarm(
        torrent.info, storage, have=[i < pieces for i in range(PIECES)], rng=random.Random(3)
    )


def test_a_stalled_download_asks_an_idle_peer_for_the_stuck_blocks(
    torrent: Torrent, tmp_path: Path
) -> None:
    """Only pieces 0 and 1 exist in the swarm. While a peer we asked for them is merely
    waited for, nobody is asked for its blocks twice (in a super-seeded swarm nothing
    else to ask for is the usual state, and a copy costs a peer's upload); once it has
    sent nothing for STARVED_PATIENCE, an idle peer is asked for them, a few at a time,
    until they are all in."""
    clock = Clock()
    leecher, _ = _leecher(torrent, tmp_path, clock)
    silent = Pair(leecher, _partial(torrent, 2), b_id=b"-SI0001-000000000000", b_ip="10.0.0.3")
    idle = Pair(leecher, _partial(torrent, 2), b_id=b"-ID0001-000000000000")
    step(silent, idle, rounds=2)  # the silent one is asked for every block first
    assert leecher.peers[silent.link_a].outstanding == 2 * leecher.picker.blocks_in_piece(0)
    silent.link_b.outbox.clear()
    silent.link_b.write = lambda data: None  # type: ignore[method-assign]  # it goes quiet
    pump(silent, idle)
    clock.now += STARVED_PATIENCE - 0.5
    leecher.tick()
    pump(silent, idle)
    assert leecher.picker.num_have == 0
    assert leecher.picker.num_end_game_requests == 0
    clock.now += 1
    leecher.tick()
    pump(silent, idle)
    assert leecher.picker.num_have == 2
    with open(tmp_path / "download.part", "rb") as f:
        assert (
            f.read(2 * torrent.info.piece_length) == torrent.data[: 2 * torrent.info.piece_length]
        )
    assert not silent.closed  # slow, not dropped: that takes STALL_TIMEOUT


def test_a_peer_asked_again_after_a_pause_is_not_dropped_as_stalled(
    torrent: Torrent, tmp_path: Path
) -> None:
    """The stall timer runs from when we start waiting for a peer, not from the last
    block it sent: one that had nothing for us for a while is given time to answer."""
    clock = Clock()
    leecher, _ = _leecher(torrent, tmp_path, clock)
    pair = Pair(leecher, _partial(torrent, 1))
    pump(pair)
    assert leecher.picker.num_have == 1
    clock.now += leecher.stall_timeout + 5  # nothing more to ask it for a long time
    leecher.tick()
    # Then it announces piece 1: we ask for it (it never answers in this test).
    pair.link_b.send(wire.Have(1))
    pair.link_b.write = lambda data: None  # type: ignore[method-assign]
    pair._deliver(pair.link_b, leecher, pair.link_a)
    assert leecher.peers[pair.link_a].outstanding > 0
    clock.now += 1
    leecher.tick()
    assert not pair.closed
    clock.now += leecher.stall_timeout
    leecher.tick()
    assert pair.link_a.dropped == "stalled: no data for requested blocks"


def test_a_seed_that_sent_a_bad_block_is_banned(torrent: Torrent, tmp_path: Path) -> None:
    """Piece 2 fails its check, is fetched again from one peer alone, verifies, and
    the peer whose block differed from the good copy is banned and dropped."""
    bad = bytearray(torrent.data)
    bad[2 * torrent.info.piece_length + 5] ^= 0xFF
    poisoned = tmp_path / "poisoned.bin"
    poisoned.write_bytes(bad)
    leecher, events = _leecher(torrent, tmp_path, Clock())
    liar_id = b"-LI0001-000000000000"
    liar = Pair(leecher, _seed(torrent, poisoned), b_id=liar_id, b_ip="10.0.0.3")
    honest = Pair(leecher, _seed(torrent), b_id=b"-HO0001-000000000000")
    pump(liar, honest)
    assert events[-1] == "finished"
    assert _downloaded(tmp_path) == torrent.data
    assert leecher.is_banned(liar_id, "10.0.0.3")
    assert liar.link_a.dropped == "sent data that failed the hash check"
    assert honest.link_b.dropped == "both sides are seeds"  # not banned: done
    assert leecher.peer_counters()[liar_id].banned
    # A banned peer cannot come back on a new connection.
    again = Pair(leecher, _seed(torrent, poisoned), b_id=liar_id, b_ip="10.0.0.3")
    assert not again.accepted


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(cuts=st.lists(st.integers(1, 70_000), min_size=1, max_size=6))
def test_however_the_stream_is_cut_the_file_is_right_and_a_liar_banned(
    pieces_of_256_kib: None, cuts: list[int]
) -> None:
    """Blocks are handled a receive callback's run at a time: wherever the bytes are cut
    into callbacks (mid-frame, mid-block, many blocks at once), every piece is verified,
    the file is the original, and the peer whose block was bad is banned."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = random.Random(7).randbytes(PIECES * 256 * 1024 - 1000)
        (tmp_path / "seed.bin").write_bytes(data)
        info = build_info(tmp_path / "seed.bin", "seed.bin", "g")
        bad = bytearray(data)
        bad[3 * info.piece_length + 20_000] ^= 0xFF
        (tmp_path / "poisoned.bin").write_bytes(bad)
        torrent = Torrent(info, data, tmp_path / "seed.bin")
        leecher, events = _leecher(torrent, tmp_path, Clock())
        liar_id = b"-LI0001-000000000000"
        liar = Pair(
            leecher,
            _seed(torrent, tmp_path / "poisoned.bin"),
            b_id=liar_id,
            b_ip="10.0.0.3",
            cuts=itertools.cycle(cuts),
        )
        honest = Pair(leecher, _seed(torrent), cuts=itertools.cycle(cuts[::-1]))
        lied: list[tuple[int, int]] = []  # the bad block, if the liar delivered it
        on_message = leecher.on_message

        def watch(conn: PeerLink, msg: RunEvent) -> None:
            if conn is liar.link_a and isinstance(msg, Blocks):
                lied.extend((i, b) for i, b, _ in msg.blocks if (i, b) == (3, 16384))
            on_message(conn, msg)

        leecher.on_message = watch  # type: ignore[method-assign]
        pump(liar, honest)
        assert events[-1] == "finished"
        assert _downloaded(tmp_path) == data
        assert leecher.is_banned(liar_id, "10.0.0.3") == bool(lied)
        if lied:
            assert liar.link_a.dropped == "sent data that failed the hash check"


def test_a_member_that_sent_bad_data_is_banned_with_all_its_peer_ids(
    torrent: Torrent, tmp_path: Path
) -> None:
    """mal runs peer ids on several addresses: one serves garbage, one serves good data,
    one was only listed. Once mal is convicted, every one of them is banned (the
    connected ones dropped, new ones refused); ann's honest seeder never is."""
    poisoned = tmp_path / "poisoned.bin"
    poisoned.write_bytes(bytes(b ^ 0x5A for b in torrent.data))
    liar_id, quiet_id, unseen_id = (b"-MA000%d-000000000000" % n for n in (1, 2, 3))
    honest_id = b"-HO0001-000000000000"
    listed = {
        liar_id: PeerAddress(liar_id, "10.0.0.3", 6881, True, "mal"),
        quiet_id: PeerAddress(quiet_id, "10.0.0.4", 6881, True, "mal"),
        unseen_id: PeerAddress(unseen_id, "10.0.0.5", 6881, True, "mal"),
        honest_id: PeerAddress(honest_id, "10.0.0.2", 6881, True, "ann"),
    }
    leecher, events = _leecher(torrent, tmp_path, Clock(), Members(listed))
    liar = Pair(leecher, _seed(torrent, poisoned), b_id=liar_id, b_ip="10.0.0.3")
    quiet = Pair(leecher, _seed(torrent), b_id=quiet_id, b_ip="10.0.0.4")
    honest = Pair(leecher, _seed(torrent), b_id=honest_id, b_ip="10.0.0.2")
    pump(liar, quiet, honest)
    assert events[-1] == "finished"
    assert _downloaded(tmp_path) == torrent.data
    assert liar.link_a.dropped == quiet.link_a.dropped == "sent data that failed the hash check"
    assert honest.link_b.dropped == "both sides are seeds"  # not banned: done
    banned = {peer_id for peer_id, c in leecher.peer_counters().items() if c.banned}
    assert banned == {liar_id, quiet_id, unseen_id}
    # A peer id of mal's that the tracker lists later is refused too.
    later_id = b"-MA0004-000000000000"
    listed[later_id] = PeerAddress(later_id, "10.0.0.6", 6881, True, "mal")
    assert leecher.is_banned(later_id, "10.0.0.6")
    assert not Pair(leecher, _seed(torrent), b_id=later_id, b_ip="10.0.0.6").accepted


def test_a_re_fetch_never_goes_to_another_peer_id_of_the_implicated_member(
    torrent: Torrent, tmp_path: Path
) -> None:
    """Piece 5 failed with blocks from mal's first peer id and ann's seeder; mal's
    first peer id has gone. The re-fetch goes to ann, although ann let one stall
    before, and never to mal's other peer id (a member cannot clear itself)."""
    liar_id, quiet_id = b"-MA0001-000000000000", b"-MA0002-000000000000"
    honest_id = b"-HO0001-000000000000"
    listed = {
        liar_id: PeerAddress(liar_id, "10.0.0.3", 6881, True, "mal"),
        quiet_id: PeerAddress(quiet_id, "10.0.0.4", 6881, True, "mal"),
        honest_id: PeerAddress(honest_id, "10.0.0.2", 6881, True, "ann"),
    }
    clock = Clock()
    leecher, _ = _leecher(torrent, tmp_path, clock, Members(listed))
    liar = Pair(leecher, _seed(torrent), b_id=liar_id, b_ip="10.0.0.3")
    quiet = Pair(leecher, _seed(torrent), b_id=quiet_id, b_ip="10.0.0.4")
    honest = Pair(leecher, _seed(torrent), b_id=honest_id, b_ip="10.0.0.2")
    for pair in (liar, quiet, honest):  # seeds show pieces a few at a time: show them all
        pair.link_b.write(pair.link_b.protocol.encode_haves(range(PIECES)))
    step(liar, quiet, honest, rounds=1)
    blame = leecher.download.blame
    copy = [((liar_id, "user mal"), b"junk"), ((honest_id, "user ann"), b"good")]
    assert blame.piece_failed(5, copy) == set()
    blame.stalled((honest_id, "user ann"))
    liar.link_a.drop("gone")
    leecher.download.watch_refetches(clock.now)  # the suspect piece has no owner yet
    assert leecher.picker.solo_owner(5) is honest.link_a


def test_a_stalled_peer_is_dropped_on_the_injected_clock(torrent: Torrent, tmp_path: Path) -> None:
    clock = Clock()
    leecher, _ = _leecher(torrent, tmp_path, clock)
    pair = Pair(leecher, _seed(torrent))
    step(pair, rounds=2)  # requests sent, never answered
    pair.link_b.outbox.clear()
    pair.link_b.write = lambda data: None  # type: ignore[method-assign]
    clock.now += leecher.stall_timeout - 1
    leecher.tick()
    assert not pair.closed
    clock.now += 2
    leecher.tick()
    assert pair.link_a.dropped == "stalled: no data for requested blocks"
    assert leecher.peer_count() == 0


@pytest.mark.parametrize(
    ("rate", "window"), [(0.0, 64), (40 * 16384.0, 20), (1000.0, 8), (1e9, 64)]
)
def test_a_peer_is_asked_for_about_half_a_second_of_its_rate(
    torrent: Torrent, tmp_path: Path, rate: float, window: int
) -> None:
    """A piece a peer announces reaches us only after what we asked of it before, and on
    a slow link our haves and requests wait behind its answers to us: keep about half a
    second of its measured rate outstanding (at least 8 blocks, at most 64), 64 until
    measured. With 32 blocks at least, a 20 Mbit/s upload shared by 15 peers made
    every hop of a piece take 3 s."""
    leecher, _ = _leecher(torrent, tmp_path, Clock())
    seed = _seed(torrent)
    seed.upload.serve = lambda peer: None  # type: ignore[method-assign]  # never answers
    pair = Pair(leecher, seed)
    leecher.peers[pair.link_a].rate_down = rate  # bytes per tick of about a second
    pump(pair)
    assert leecher.peers[pair.link_a].outstanding == window


def test_a_new_peers_rate_is_its_first_ticks_average_then_smoothed(
    torrent: Torrent, tmp_path: Path
) -> None:
    """Blending the first ticks with a rate of 0 understated a new peer's rate for
    seconds, and the requests sized by it starved the link at the start."""
    leecher, _ = _leecher(torrent, tmp_path, Clock())
    pair = Pair(leecher, _seed(torrent))
    peer = leecher.peers[pair.link_a]
    for received in (100_000, 300_000):
        peer.downloaded += received
        peer.sample_rates()
    assert peer.rate_down == 200_000  # the mean of the first two ticks
    for _ in range(30):
        peer.downloaded += 50_000
        peer.sample_rates()
    assert 50_000 < peer.rate_down < 50_010  # then an average that forgets


def test_a_seed_feeds_a_few_of_a_dozen_downloaders_at_a_time(
    torrent: Torrent, tmp_path: Path
) -> None:
    """A seed with 12 downloaders unchokes only SEED_UPLOAD_SLOTS of them: each fresh
    piece leaves it at a quarter of its rate rather than a twelfth, and the others get
    pieces from those it feeds."""
    seed = _seed(torrent)
    pairs = []
    for n in range(12):
        storage = PieceStorage.create(tmp_path / f"d{n}.part", torrent.info)
        leecher = Swarm(torrent.info, storage, have=[False] * PIECES, rng=random.Random(n))
        peer_id = b"-DL0001-%012d" % n
        pairs.append(Pair(leecher, seed, a_id=peer_id, a_ip=f"10.0.1.{n}"))
    step(*pairs, rounds=3)  # handshakes, haves, interest, unchokes
    unchoked = [p for p in pairs if not p.link_b.protocol.am_choking]
    assert len(unchoked) == SEED_UPLOAD_SLOTS == 4
    assert all(seed.upload.super_seed.lacks_shown(p.link_b, lambda i: False) for p in unchoked)


def test_a_seed_is_asked_for_more_before_the_blocks_it_sent_are_checked(
    torrent: Torrent, tmp_path: Path
) -> None:
    """The seed goes on sending while we hash and write what it sent: the requests for
    more leave before the pieces its blocks complete are checked (asking only after that
    left each side waiting for the other in turn)."""
    written_at_check: list[list[bytes]] = []
    leecher = Swarm(
        torrent.info,
        PieceStorage.create(tmp_path / "download.part", torrent.info),
        have=[False] * PIECES,
        on_piece_verified=lambda s: written_at_check.append(list(pair.link_a.outbox)),
        rng=random.Random(2),
        clock=Clock(),
    )
    pair = Pair(leecher, _seed(torrent))
    pump(pair)
    assert _downloaded(tmp_path) == torrent.data
    request_id = 6
    asked_first = [any(w[4] == request_id for w in writes) for writes in written_at_check]
    # Not for every piece: the seed first shows one piece alone, and the last pieces
    # complete with nothing left to ask for.
    assert asked_first.count(True) >= PIECES // 2, asked_first
