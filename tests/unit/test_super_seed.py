"""A seed shows its pieces a few at a time: each piece leaves it once before any leaves it
twice, and downloaders trade the rest (peer/super_seed.py; swarms back to back without
sockets, tests/unit/peer_links.py)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from minitorrent.metainfo import InfoDict, build_info
from minitorrent.peer.link import PeerLink
from minitorrent.peer.storage import PieceStorage
from minitorrent.peer.super_seed import SuperSeed
from minitorrent.peer.swarm import State, Swarm
from minitorrent.wire.protocol import Blocks, RunEvent
from tests.unit.peer_links import Pair, pump

pytestmark = pytest.mark.usefixtures("pieces_of_256_kib")

PIECE = 256 * 1024


def _never(index: int) -> bool:
    return False


def _none(index: int) -> int:
    return 0


def test_a_lone_downloader_is_shown_the_pieces_in_order_a_few_ahead() -> None:
    seed = SuperSeed(10, PIECE)
    seed.add_peer("a")
    assert seed.ahead == 4  # 1 MiB of 256 KiB pieces
    assert seed.top_up("a", _never, _none) == [0, 1, 2, 3]
    assert seed.top_up("a", _never, _none) == []  # four wait for its requests already
    assert seed.requested("a", 1)
    assert not seed.requested("a", 1)  # a second block of the same piece
    assert seed.top_up("a", _never, _none) == [4]


def test_two_downloaders_are_never_shown_one_piece_until_every_piece_was_given() -> None:
    seed = SuperSeed(6, PIECE)
    seed.add_peer("a")
    seed.add_peer("b")
    assert seed.top_up("a", _never, _none) == [0, 1, 2, 3]
    # Then every piece was given: b is shown those it lacks with the fewest copies among
    # peers; piece 2 reached no one yet (it is on its way to a): last.
    copies = {0: 3, 1: 1, 2: 0, 3: 2, 4: 0, 5: 0}.__getitem__
    assert seed.top_up("b", _never, copies) == [4, 5, 1, 3]
    assert seed.requested("b", 4)
    assert seed.top_up("b", _never, copies) == [0]
    # Piece 2 is shown again only once b has nothing else of ours to ask for.
    assert seed.requested("b", 5)
    assert seed.top_up("b", _never, copies) == []
    for index in (1, 3, 0):
        assert seed.requested("b", index)
    assert seed.top_up("b", _never, copies) == [2]


def test_pieces_shown_to_a_choked_downloader_go_to_the_next_one() -> None:
    seed = SuperSeed(8, PIECE)
    seed.add_peer("a")
    seed.add_peer("b")
    assert seed.top_up("a", _never, _none) == [0, 1, 2, 3]
    assert seed.requested("a", 0)
    seed.give_back("a")  # choked: 1, 2 and 3 were not asked for
    assert seed.top_up("b", _never, _none) == [1, 2, 3, 4]
    # a piece the downloader announced itself is not shown to it
    seed.remove_peer("b")
    seed.add_peer("c")
    assert seed.top_up("c", lambda i: i == 1, _none) == [2, 3, 4, 5]


# -- whole swarms ------------------------------------------------------------------------


def _torrent(tmp_path: Path, pieces: int) -> tuple[InfoDict, bytes, Path]:
    data = random.Random(11).randbytes(pieces * PIECE - 500)
    path = tmp_path / "seed.bin"
    path.write_bytes(data)
    info = build_info(path, "seed.bin", "g")
    assert info.num_pieces == pieces and info.piece_length == PIECE
    return info, data, path


def _seed(info: InfoDict, path: Path) -> Swarm:
    """A seed serving ``path`` as hashed (trusted: no re-hash before serving)."""
    storage = PieceStorage.open_existing(path, info, writable=False)
    seed = Swarm(info, storage, have=[True] * info.num_pieces, rng=random.Random(1))
    st = os.stat(path)
    seed.trust_file(st.st_size, st.st_mtime_ns)
    return seed


def _recording(swarm: Swarm, seed_links: set[int], sent: list[int]) -> None:
    """Note the piece of every block the downloader ``swarm`` receives from the seed."""
    on_message = swarm.on_message

    def record(conn: PeerLink, msg: RunEvent) -> None:
        if id(conn) in seed_links:
            blocks = msg.blocks if isinstance(msg, Blocks) else []
            sent.extend(index for index, begin, _ in blocks if begin == 0)
        on_message(conn, msg)

    swarm.on_message = record  # type: ignore[method-assign]


def test_a_seed_sends_the_file_about_once_while_downloaders_trade(
    tmp_path: Path,
) -> None:
    pieces = 24
    info, data, path = _torrent(tmp_path, pieces)
    seed = _seed(info, path)
    downloaders = [
        Swarm(
            info,
            PieceStorage.create(tmp_path / f"d{i}.part", info),
            have=[False] * pieces,
            rng=random.Random(10 + i),
        )
        for i in range(3)
    ]
    ids = [f"-D{i}0001-000000000000".encode() for i in range(3)]
    seed_id = b"-SE0001-000000000000"
    to_seed = [Pair(d, seed, a_id=ids[i], b_id=seed_id) for i, d in enumerate(downloaders)]
    between = [
        Pair(downloaders[i], downloaders[j], a_id=ids[i], b_id=ids[j])
        for i in range(3)
        for j in range(i + 1, 3)
    ]
    sent: list[int] = []  # pieces the seed sent, in order
    seed_links = {id(pair.link_a) for pair in to_seed}
    for d in downloaders:
        _recording(d, seed_links, sent)

    pump(*to_seed, *between)

    for i, d in enumerate(downloaders):
        assert d.state is State.CHECKING
        assert (tmp_path / f"d{i}.part").read_bytes() == data
    # Every piece left the seed among its first sends (a file's worth and one piece: a
    # downloader asks for more before it announces what the same blocks completed, so the
    # seed may pick from news a moment old) ...
    assert set(sent[: pieces + 1]) == set(range(pieces)), sent
    # ... little went twice: a piece still on its way to its first holder is shown again
    # only to a downloader with nothing else of ours to ask for ...
    assert len(sent) <= 1.5 * pieces, sent
    # ... and the downloaders traded: each got a quarter of the file from the others.
    for d in downloaders:
        counters = d.peer_counters()
        from_peers = sum(counters[pid].downloaded for pid in ids if pid in counters)
        assert from_peers > len(data) // 4


@pytest.mark.parametrize("missing", range(6))
def test_a_downloader_that_has_most_pieces_already_gets_the_rest(
    tmp_path: Path, missing: int
) -> None:
    """The seed showed its first piece before the downloader's bitfield said it had it:
    the seed then shows one it lacks, or the downloader would never be interested."""
    pieces = 6
    info, data, path = _torrent(tmp_path, pieces)
    seed = _seed(info, path)
    part = tmp_path / "d.part"
    hole = bytes(info.piece_size(missing))
    part.write_bytes(data[: missing * PIECE] + hole + data[(missing + 1) * PIECE :])
    have = [i != missing for i in range(pieces)]
    leecher = Swarm(info, PieceStorage.open_existing(part, info, writable=True), have=have)
    pump(Pair(leecher, seed))
    assert leecher.state is State.CHECKING
    assert part.read_bytes() == data


def test_a_downloader_of_part_of_the_file_is_shown_every_piece_at_the_next_rechoke(
    tmp_path: Path,
) -> None:
    """It wants only the last pieces (download_file --only): not interested in what it is
    shown first, it would wait for ever; the next rechoke shows it every piece."""
    pieces = 12
    info, data, path = _torrent(tmp_path, pieces)
    now = [0.0]
    seed = Swarm(
        info,
        PieceStorage.open_existing(path, info, writable=False),
        have=[True] * pieces,
        rng=random.Random(1),
        clock=lambda: now[0],
    )
    st = os.stat(path)
    seed.trust_file(st.st_size, st.st_mtime_ns)
    wanted = {pieces - 2, pieces - 1}
    part = tmp_path / "d.part"
    leecher = Swarm(
        info,
        PieceStorage.create(part, info),
        have=[False] * pieces,
        wanted=wanted,
        clock=lambda: now[0],
    )
    pair = Pair(leecher, seed)
    pump(pair)
    assert leecher.state is State.DOWNLOADING  # shown piece 0 only: nothing it wants
    now[0] += 11.0  # past the rechoke interval
    seed.tick()
    pump(pair)
    assert leecher.state is State.CHECKING
    with part.open("rb") as f:
        f.seek((pieces - 2) * PIECE)
        assert f.read() == data[(pieces - 2) * PIECE :]


def _serve_lone_downloader(seeds: dict[str, SuperSeed], pieces: int) -> dict[str, int]:
    """One downloader of several seeds, in rounds: every seed tops up what it shows; the
    downloader asks for each piece shown that it has not asked for yet, of the first seed
    (in ``seeds``' order) that shows it, as if that seed's messages always came first;
    then every piece asked for arrives and is announced to every seed. Pieces per seed."""
    asked: dict[int, str] = {}
    had: set[int] = set()
    for seed in seeds.values():
        seed.add_peer("dan")
    while len(had) < pieces:
        for name, seed in seeds.items():
            for index in seed.top_up("dan", had.__contains__, _none):
                if index not in asked:
                    asked[index] = name
                    assert seed.requested("dan", index)
        assert len(asked) > len(had), "no seed showed a piece the downloader lacks"
        for index in set(asked) - had:
            had.add(index)
            for seed in seeds.values():
                seed.announced("dan", index)
    return {name: sum(1 for by in asked.values() if by == name) for name in seeds}


def test_a_seed_trailing_another_moves_away_and_serves_its_share() -> None:
    """Two seeds of one downloader whose fresh pieces start two apart, the trailing one
    always a moment late: it showed only pieces already asked of the other and served
    nothing but its first two. Once the downloader announces a piece it showed and was
    never asked for, it goes on from the middle of the pieces it never gave."""
    pieces = 80
    served = _serve_lone_downloader(
        {"quick": SuperSeed(pieces, PIECE, start=12), "late": SuperSeed(pieces, PIECE, start=10)},
        pieces,
    )
    assert served["quick"] + served["late"] == pieces
    assert served["late"] >= pieces // 4, served
