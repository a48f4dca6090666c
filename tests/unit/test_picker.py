"""Unit and property tests for the pure piece picker."""

from __future__ import annotations

import random
from collections.abc import Hashable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from minitorrent.peer.picker import END_GAME_BLOCKS, Block, BlockState, PiecePicker

BS = 16384


def make(
    num_pieces: int,
    blocks_per_piece: int = 1,
    *,
    last_piece: int | None = None,
    seed: int = 0,
    have: tuple[int, ...] = (),
) -> PiecePicker:
    """A picker of ``num_pieces`` full pieces (the last one ``last_piece`` bytes)."""
    plen = blocks_per_piece * BS
    total = (num_pieces - 1) * plen + (plen if last_piece is None else last_piece)
    pk = PiecePicker(
        num_pieces, plen, max(total, 0), block_size=BS, rng=random.Random(seed), have=have
    )
    pk.check_invariants()
    return pk


def drain(pk: PiecePicker, peer: Hashable, blocks: list[Block]) -> None:
    """Receive ``blocks`` from ``peer`` and verify every piece that completes."""
    for block in blocks:
        pk.on_block_received(peer, block)
        if pk.piece_complete(block.index):
            pk.on_piece_verified(block.index)
        pk.check_invariants()


def contributors(pk: PiecePicker, index: int) -> set[Hashable]:
    """Peers that delivered blocks of a downloading piece."""
    return {p for p in pk.senders(index) if p is not None}


# ---------------------------------------------------------------- geometry


def test_last_piece_and_last_block_sizes() -> None:
    pk = PiecePicker(3, 40000, 2 * 40000 + 20000, block_size=BS, rng=random.Random(1))
    assert [pk.piece_size(i) for i in range(3)] == [40000, 40000, 20000]
    assert [pk.blocks_in_piece(i) for i in range(3)] == [3, 3, 2]
    assert pk.blocks_of(0) == [Block(0, 0, BS), Block(0, BS, BS), Block(0, 2 * BS, 40000 - 2 * BS)]
    assert pk.blocks_of(2) == [Block(2, 0, BS), Block(2, BS, 20000 - BS)]
    pk.add_peer_have_all("s")
    got = pk.pick("s", 100)
    pk.check_invariants()
    assert sorted(got) == sorted(b for i in range(3) for b in pk.blocks_of(i))
    assert sum(b.length for b in got) == pk.total_length


@pytest.mark.parametrize("delta", [-1, 0, 1])
@pytest.mark.parametrize("block_size", [BS - 1, BS, BS + 1])
def test_boundary_sizes(delta: int, block_size: int) -> None:
    plen = 2 * BS
    total = 3 * plen + delta
    n = -(-total // plen)
    pk = PiecePicker(n, plen, total, block_size=block_size, rng=random.Random(0))
    blocks = [b for i in range(n) for b in pk.blocks_of(i)]
    assert sum(b.length for b in blocks) == total
    assert all(0 < b.length <= block_size for b in blocks)
    for i in range(n):
        assert sum(b.length for b in pk.blocks_of(i)) == pk.piece_size(i)
    pk.add_peer_have_all("s")
    assert sorted(pk.pick("s", 10_000)) == sorted(blocks)
    drain(pk, "s", blocks)
    assert pk.is_complete


def test_block_accessor_and_bad_blocks() -> None:
    pk = make(2, 2, last_piece=BS + 5)
    assert pk.block(1, 1) == Block(1, BS, 5)
    with pytest.raises(ValueError):
        pk.block(1, 2)
    pk.add_peer_have_all("a")
    for bad in [
        Block(2, 0, BS),
        Block(-1, 0, BS),
        Block(0, 1, BS),
        Block(0, 2 * BS, BS),
        Block(1, BS, BS),
        Block(0, 0, BS - 1),
    ]:
        with pytest.raises(ValueError):
            pk.on_block_received("a", bad)
        with pytest.raises(ValueError):
            pk.block_state(bad)
    pk.check_invariants()


def test_zero_length_torrent_is_complete_at_once() -> None:
    pk = PiecePicker(0, BS, 0, rng=random.Random(0))
    assert pk.is_complete
    assert pk.num_have == 0
    assert pk.missing_pieces() == []
    assert pk.have_list() == []
    pk.add_peer("a", [])
    pk.add_peer_have_all("s")
    assert pk.pick("a", 10) == []
    assert pk.pick("s", 10) == []
    assert not pk.interesting("s")
    assert not pk.in_end_game
    pk.check_invariants()
    pk.remove_peer("s")
    pk.check_invariants()


@pytest.mark.parametrize(
    ("num_pieces", "piece_length", "total", "block_size"),
    [(1, BS, 0, BS), (0, BS, 1, BS), (2, BS, BS, BS), (1, 0, 0, BS), (1, BS, BS, 0), (1, 1, -1, 1)],
)
def test_constructor_rejects_inconsistent_geometry(
    num_pieces: int, piece_length: int, total: int, block_size: int
) -> None:
    with pytest.raises(ValueError):
        PiecePicker(num_pieces, piece_length, total, block_size=block_size)


def test_constructor_rejects_bad_have() -> None:
    with pytest.raises(ValueError):
        make(4, have=(4,))


# ---------------------------------------------------------------- resume


def test_resume_with_have() -> None:
    pk = make(4, 2, have=(0, 2))
    assert pk.num_have == 2
    assert pk.missing_pieces() == [1, 3]
    assert pk.have_list() == [True, False, True, False]
    assert pk.block_state(Block(0, 0, BS)) is BlockState.VERIFIED
    pk.add_peer("a", [0, 2])
    pk.add_peer_have_all("s")
    assert not pk.interesting("a")
    assert pk.interesting("s")
    assert pk.pick("a", 10) == []
    got = pk.pick("s", 10)
    assert {b.index for b in got} == {1, 3}
    assert len(got) == 4
    pk.check_invariants()
    drain(pk, "s", got)
    assert pk.is_complete
    assert not pk.interesting("s")


def test_resume_complete() -> None:
    pk = make(3, have=(0, 1, 2))
    assert pk.is_complete
    pk.add_peer_have_all("s")
    assert pk.pick("s", 5) == []
    assert not pk.in_end_game
    pk.check_invariants()


# ---------------------------------------------------------------- policy


def test_rarest_first() -> None:
    pk = make(10)
    pk.add_peer("a", range(10))
    pk.add_peer("b", range(8))
    pk.add_peer("c", range(4))
    pk.check_invariants()
    assert [pk.availability(i) for i in range(10)] == [3] * 4 + [2] * 4 + [1] * 2
    order = []
    for _ in range(10):
        (block,) = pk.pick("a", 1)
        order.append(block.index)
        pk.check_invariants()
    assert set(order[:2]) == {8, 9}
    assert set(order[2:6]) == {4, 5, 6, 7}
    assert set(order[6:]) == {0, 1, 2, 3}
    assert pk.pick("a", 1) == []  # all requested: end-game, but nothing new for "a"


def test_rarest_first_only_among_the_peers_pieces() -> None:
    pk = make(10)
    pk.add_peer("a", range(10))
    pk.add_peer("c", [1, 5])
    got = pk.pick("c", 10)
    assert {b.index for b in got} == {1, 5}
    assert len(got) == 2
    pk.check_invariants()


def test_have_message_changes_rarity() -> None:
    pk = make(3)
    pk.add_peer("a", [0, 1, 2])
    pk.add_peer("b", [0, 1, 2])
    pk.add_peer("c", [])
    assert not pk.interesting("c")
    pk.peer_has("c", 0)
    pk.peer_has("c", 0)  # repeat is harmless
    pk.peer_has("c", 1)
    assert pk.interesting("c")
    pk.check_invariants()
    assert [pk.availability(i) for i in range(3)] == [3, 3, 2]
    assert pk.pick("a", 1)[0].index == 2
    pk.remove_peer("c")
    pk.check_invariants()
    assert [pk.availability(i) for i in range(3)] == [2, 2, 2]


def test_seeds_do_not_change_rarity_order() -> None:
    pk = make(6)
    pk.add_peer_have_all("s1")
    pk.add_peer_have_all("s2")
    pk.add_peer("a", [0, 1, 2, 3])
    assert pk.availability(0) == 3
    assert pk.availability(5) == 2
    first = {pk.pick("s1", 1)[0].index, pk.pick("s1", 1)[0].index}
    assert first == {4, 5}
    pk.check_invariants()


def _order_for_seed(seed: int, n: int = 16) -> list[int]:
    pk = make(n, seed=seed)
    pk.add_peer("a", range(n))
    pk.add_peer("b", range(n))
    order = [pk.pick("a", 1)[0].index for _ in range(n)]
    pk.check_invariants()
    return order


def test_random_among_equally_rare() -> None:
    orders = [tuple(_order_for_seed(seed)) for seed in range(8)]
    assert all(sorted(o) == list(range(16)) for o in orders)
    assert len(set(orders)) > 1
    assert len({o[0] for o in orders}) > 1
    # Same seed, same order: deterministic.
    assert _order_for_seed(3) == _order_for_seed(3)


def test_random_among_equal_for_seed_peers_when_others_could_trade() -> None:
    firsts = set()
    for seed in range(20):
        pk = make(16, seed=seed)
        pk.add_peer_have_all("s")
        pk.add_peer("leech", [])  # a downloader too: pieces should differ from its own
        firsts.add(pk.pick("s", 1)[0].index)
    assert len(firsts) > 3


def test_in_order_while_every_peer_is_a_seed() -> None:
    pk = make(8, seed=5)
    pk.add_peer_have_all("s1")
    pk.add_peer_have_all("s2")
    assert [pk.pick(s, 1)[0].index for s in ("s1", "s2", "s1")] == [0, 1, 2]
    pk.check_invariants()


def test_in_order_resumes_after_gaps_and_returned_pieces() -> None:
    pk = make(8, 2, have=(0, 2))
    pk.add_peer_have_all("s")
    assert pk.pick("s", 4) == pk.blocks_of(1) + pk.blocks_of(3)
    pk.cancel_all("s")  # pieces 1 and 3 are free again: back to the lowest first
    assert pk.pick("s", 2) == pk.blocks_of(1)
    pk.check_invariants()


def test_random_again_once_a_downloader_connects() -> None:
    firsts = set()
    for seed in range(20):
        pk = make(16, seed=seed)
        pk.add_peer_have_all("s")
        assert pk.pick("s", 1)[0].index == 0
        pk.add_peer("leech", [])
        firsts.add(pk.pick("s", 1)[0].index)
        pk.remove_peer("leech")
        pk.check_invariants()
    assert len(firsts) > 3


def test_verified_prefix() -> None:
    pk = make(5, have=(1, 3))
    assert pk.verified_prefix() == 0
    pk.add_peer_have_all("s")
    drain(pk, "s", pk.pick("s", 1))  # piece 0
    assert pk.verified_prefix() == 2
    drain(pk, "s", pk.pick("s", 2))  # pieces 2 and 4
    assert pk.verified_prefix() == 5
    assert make(3, have=(0, 1, 2)).verified_prefix() == 3


def test_partial_pieces_are_finished_first() -> None:
    pk = make(8, 4)
    pk.add_peer_have_all("a")
    pk.add_peer_have_all("b")
    (first,) = pk.pick("a", 1)
    got = pk.pick("b", 3)
    assert [b.index for b in got] == [first.index] * 3
    assert first not in got
    pk.check_invariants()
    # The next pick for b starts a new piece.
    (nxt,) = pk.pick("b", 1)
    assert nxt.index != first.index


def test_partially_received_piece_is_continued_after_its_peer_leaves() -> None:
    pk = make(8, 4)
    pk.add_peer_have_all("a")
    got = pk.pick("a", 2)
    pk.on_block_received("a", got[0])
    assert pk.remove_peer("a") == [got[1]]
    pk.check_invariants()
    assert pk.block_state(got[1]) is BlockState.FREE
    assert pk.block_state(got[0]) is BlockState.RECEIVED
    pk.add_peer_have_all("b")
    nxt = pk.pick("b", 3)
    assert {b.index for b in nxt} == {got[0].index}
    assert got[0] not in nxt
    pk.check_invariants()


def test_pick_limits_and_unknown_peer() -> None:
    pk = make(4, 2)
    pk.add_peer_have_all("a")
    assert pk.pick("a", 0) == []
    assert pk.pick("a", -3) == []
    assert len(pk.pick("a", 3)) == 3
    with pytest.raises(KeyError):
        pk.pick("nobody", 1)
    with pytest.raises(KeyError):
        pk.peer_has("nobody", 0)
    with pytest.raises(ValueError):
        pk.add_peer("a", [])
    with pytest.raises(ValueError):
        pk.add_peer_have_all("a")
    pk.check_invariants()


def test_bad_indices_from_a_peer_are_rejected_without_side_effects() -> None:
    pk = make(4)
    with pytest.raises(ValueError):
        pk.add_peer("a", [0, 1, 4])
    pk.check_invariants()
    assert pk.peers() == []
    pk.add_peer("a", [0])
    with pytest.raises(ValueError):
        pk.peer_has("a", -1)
    with pytest.raises(ValueError):
        pk.peer_has("a", 4)
    pk.check_invariants()


# ---------------------------------------------------------------- block lifecycle


def test_block_states_through_a_piece_lifecycle() -> None:
    pk = make(2, 2)
    pk.add_peer_have_all("a")
    blocks = pk.pick("a", 2)
    (index,) = {b.index for b in blocks}
    assert all(pk.block_state(b) is BlockState.REQUESTED for b in blocks)
    assert pk.wants(blocks[0])
    assert pk.on_block_received("a", blocks[0]) == []
    assert pk.block_state(blocks[0]) is BlockState.RECEIVED
    assert not pk.wants(blocks[0])
    assert not pk.piece_complete(index)
    with pytest.raises(ValueError):
        pk.on_piece_verified(index)
    pk.on_block_received("a", blocks[1])
    assert pk.piece_complete(index)
    pk.on_piece_verified(index)
    assert not pk.piece_complete(index)
    assert pk.has_piece(index)
    assert all(pk.block_state(b) is BlockState.VERIFIED for b in blocks)
    assert pk.requests_of("a") == frozenset()
    with pytest.raises(ValueError):
        pk.on_piece_verified(index)
    pk.check_invariants()


def test_failed_piece_is_fetched_again() -> None:
    pk = make(1, 3)
    pk.add_peer_have_all("a")
    pk.add_peer_have_all("b")
    first = pk.pick("a", 2)
    rest = pk.pick("b", 1)
    assert rest == [pk.blocks_of(0)[2]]
    pk.on_block_received("a", first[0])
    pk.on_block_received("a", first[1])
    pk.on_block_received("b", rest[0])
    assert pk.piece_complete(0)
    assert contributors(pk, 0) == {"a", "b"}
    pk.on_piece_failed(0)
    pk.check_invariants()
    assert contributors(pk, 0) == set()
    assert not pk.piece_complete(0)
    assert all(pk.block_state(b) is BlockState.FREE for b in pk.blocks_of(0))
    assert pk.num_free_blocks == 3
    again = pk.pick("b", 5)
    assert sorted(again) == pk.blocks_of(0)
    drain(pk, "b", again)
    assert pk.is_complete
    with pytest.raises(ValueError):
        pk.on_piece_failed(0)


def test_duplicates_and_unrequested_blocks_are_ignored() -> None:
    pk = make(2, 2)
    pk.add_peer_have_all("a")
    stray = pk.blocks_of(0)[0]
    assert pk.on_block_received("a", stray) == []  # nobody asked for it
    assert pk.num_duplicates == 1
    assert pk.block_state(stray) is BlockState.FREE
    got = pk.pick("a", 4)
    assert pk.on_block_received("a", got[0]) == []
    assert pk.on_block_received("a", got[0]) == []  # received twice
    assert pk.num_duplicates == 2
    drain(pk, "a", got[1:])
    assert pk.on_block_received("a", got[0]) == []  # already verified
    assert pk.num_duplicates == 3
    pk.check_invariants()


def test_block_from_a_peer_it_was_not_requested_from_is_accepted() -> None:
    pk = make(1, 2)
    pk.add_peer_have_all("a")
    pk.add_peer_have_all("b")
    got = pk.pick("a", 1)
    assert pk.on_block_received("b", got[0]) == ["a"]
    assert pk.requests_of("a") == frozenset()
    assert contributors(pk, 0) == {"b"}
    pk.check_invariants()


def test_reject_and_cancel_release_blocks() -> None:
    pk = make(4, 2)
    pk.add_peer_have_all("a")
    got = pk.pick("a", 3)
    assert pk.on_request_rejected("a", got[0])
    assert not pk.on_request_rejected("a", got[0])  # not outstanding any more
    pk.check_invariants()
    assert pk.block_state(got[0]) is BlockState.FREE
    assert pk.on_request_cancelled("a", got[1])
    pk.check_invariants()
    # Both blocks of the first piece are free again: it went back among the free pieces.
    assert got[0].index == got[1].index
    assert pk.num_free_blocks == 7
    assert pk.requests_of("a") == frozenset({got[2]})
    assert not pk.on_request_cancelled("a", Block(99, 0, 1))  # never outstanding: ignored
    # The half-started piece is continued before anything else.
    assert pk.pick("a", 1)[0].index == got[2].index


def test_cancel_all_on_choke() -> None:
    pk = make(4, 2)
    pk.add_peer_have_all("a")
    got = pk.pick("a", 5)
    assert pk.cancel_all("a") == sorted(got)
    assert pk.requests_of("a") == frozenset()
    assert pk.num_free_blocks == 8
    pk.check_invariants()


def test_remove_peer_releases_requests_and_availability() -> None:
    pk = make(4, 2)
    pk.add_peer("a", [0, 1, 2])
    pk.add_peer("b", [1, 2, 3])
    got = pk.pick("a", 3)
    assert sorted(pk.remove_peer("a")) == sorted(got)
    pk.check_invariants()
    assert [pk.availability(i) for i in range(4)] == [0, 1, 1, 1]
    assert pk.num_free_blocks == 8
    with pytest.raises(KeyError):
        pk.requests_of("a")
    with pytest.raises(KeyError):
        pk.remove_peer("a")


def test_interesting_follows_verification() -> None:
    pk = make(2)
    pk.add_peer("a", [0])
    pk.add_peer_have_all("s")
    assert pk.interesting("a")
    got = pk.pick("a", 5)
    assert [b.index for b in got] == [0]
    drain(pk, "a", got)
    assert not pk.interesting("a")
    assert pk.interesting("s")
    pk.peer_has("a", 1)
    assert pk.interesting("a")
    pk.check_invariants()


# ---------------------------------------------------------------- part of a folder


def test_only_wanted_pieces_are_requested() -> None:
    pk = PiecePicker(6, BS, 6 * BS, block_size=BS, rng=random.Random(0), wanted={1, 4})
    pk.add_peer_have_all("seed")
    got = pk.pick("seed", 10)
    assert sorted(b.index for b in got) == [1, 4]
    assert pk.missing_pieces() == [1, 4]
    assert not pk.is_complete
    drain(pk, "seed", got)
    assert pk.is_complete
    assert not pk.interesting("seed")  # the rest is not wanted
    assert pk.have_list() == [False, True, False, False, True, False]
    assert pk.pick("seed", 10) == []
    assert not pk.in_end_game
    pk.check_invariants()


def test_a_peer_with_unwanted_pieces_only_is_not_interesting() -> None:
    pk = PiecePicker(4, BS, 4 * BS, block_size=BS, rng=random.Random(0), wanted={0})
    pk.add_peer("a", [1, 2, 3])
    assert not pk.interesting("a")
    assert pk.pick("a", 4) == []
    pk.peer_has("a", 0)
    assert pk.interesting("a")
    assert [b.index for b in pk.pick("a", 4)] == [0]
    pk.check_invariants()


def test_wanted_length_counts_wanted_and_verified_pieces() -> None:
    pk = PiecePicker(3, BS, 2 * BS + 100, block_size=BS, wanted={2}, have={0})
    assert pk.wanted_length == BS + 100
    assert pk.missing_pieces() == [2]
    with pytest.raises(ValueError, match="not wanted"):
        pk.add_peer_have_all("a")
        pk.set_solo(1, "a")
    pk.check_invariants()


def test_nothing_wanted_is_complete_at_once() -> None:
    pk = PiecePicker(3, BS, 3 * BS, block_size=BS, wanted=set())
    assert pk.is_complete
    assert pk.wanted_length == 0
    pk.check_invariants()


# ---------------------------------------------------------------- end-game


def test_end_game_asks_an_idle_peer_for_a_few_blocks_and_reports_cancels() -> None:
    pk = make(2, 4)
    for p in "abc":
        pk.add_peer_have_all(p)
    first = pk.pick("a", 7)
    assert not pk.in_end_game
    (last,) = pk.pick("b", 10)  # the last free block, not a duplicate
    assert last not in first
    assert pk.in_end_game
    assert pk.pick("b", 10) == []  # b still owes us a block: no copies yet
    assert pk.on_block_received("b", last) == []
    pk.check_invariants()
    # Idle now: END_GAME_BLOCKS of a's, those a sends last (piece 1 was started last,
    # and a peer sends a piece's blocks in order).
    dup = pk.pick("b", 10)
    assert dup == [Block(1, 2 * BS, BS), Block(1, BS, BS), Block(1, 0, BS), Block(0, 3 * BS, BS)]
    assert len(dup) == END_GAME_BLOCKS
    assert pk.pick("b", 10) == []  # never more while these are outstanding
    pk.check_invariants()
    # c gets the blocks with the fewest requesters first (only a has them), last first.
    got_c = pk.pick("c", 10)
    assert got_c == [Block(0, 2 * BS, BS), Block(0, BS, BS), Block(0, 0, BS), Block(1, 2 * BS, BS)]
    others = pk.on_block_received("c", Block(1, 2 * BS, BS))
    assert sorted(others) == ["a", "b"]  # send them cancels
    assert Block(1, 2 * BS, BS) not in pk.requests_of("a")
    assert Block(1, 2 * BS, BS) not in pk.requests_of("b")
    assert pk.on_block_received("a", Block(1, 2 * BS, BS)) == []  # arrived anyway
    assert pk.num_duplicates == 1
    assert pk.num_end_game_requests == 2 * END_GAME_BLOCKS
    pk.check_invariants()


def test_end_game_prefers_blocks_with_fewest_requesters() -> None:
    pk = make(1, 3)
    for p in "abc":
        pk.add_peer_have_all(p)
    a_blocks = pk.pick("a", 3)
    dup_b = pk.pick("b", 1)
    assert dup_b == [a_blocks[2]]  # the one a sends last
    got_c = pk.pick("c", 2)
    assert sorted(got_c) == sorted(a_blocks[:2])  # requested once, not twice
    pk.check_invariants()


def test_end_game_releasing_a_duplicate_keeps_the_block_requested() -> None:
    pk = make(1, 2)
    pk.add_peer_have_all("a")
    pk.add_peer_have_all("b")
    got = pk.pick("a", 2)
    dup = pk.pick("b", 2)
    assert sorted(dup) == sorted(got)
    assert pk.on_request_rejected("b", got[0])
    assert pk.block_state(got[0]) is BlockState.REQUESTED
    pk.remove_peer("a")
    pk.check_invariants()
    assert pk.block_state(got[0]) is BlockState.FREE
    assert pk.block_state(got[1]) is BlockState.REQUESTED
    assert not pk.in_end_game
    assert pk.pick("b", 5) == [got[0]]


def test_a_starved_download_asks_twice_only_when_told() -> None:
    pk = make(3, 2)
    pk.add_peer("a", [0])
    pk.add_peer("b", [0])
    got = pk.pick("a", 5)
    assert {b.index for b in got} == {0}
    # Pieces 1 and 2 are free but nobody has them: starved, not end-game. In a
    # super-seeded swarm that is the usual state between two pieces shown, so b is
    # not asked for a's blocks unless the caller sees a stall.
    assert pk.starved
    assert not pk.in_end_game
    assert pk.pick("b", 5) == []
    assert sorted(pk.pick_duplicates("b", 5)) == sorted(got)
    pk.check_invariants()
    pk.peer_has("b", 2)
    assert not pk.starved
    assert {b.index for b in pk.pick("b", 5)} == {2}
    pk.check_invariants()


def test_no_end_game_while_free_blocks_are_obtainable() -> None:
    pk = make(4, 2)
    pk.add_peer("a", [0, 1, 2, 3])
    pk.add_peer("b", [0, 1])
    pk.pick("b", 4)  # all of pieces 0 and 1
    assert not pk.in_end_game
    assert pk.pick("b", 4) == []  # pieces 2, 3 are free but b lacks them: no duplicates
    assert {b.index for b in pk.pick("a", 4)} == {2, 3}
    assert pk.in_end_game
    pk.check_invariants()


# ---------------------------------------------------------------- scale


def simulate_download(num_pieces: int, blocks_per_piece: int, num_peers: int, pipeline: int) -> int:
    """Full download from ``num_peers`` peers, one pick per received block."""
    plen = blocks_per_piece * BS
    pk = PiecePicker(num_pieces, plen, num_pieces * plen - 1000, rng=random.Random(7))
    rng = random.Random(8)
    peers = list(range(num_peers))
    for p in peers:
        if p % 2:
            pk.add_peer_have_all(p)
        else:
            pk.add_peer(p, range(num_pieces))
    queues: dict[Hashable, list[Block]] = {p: pk.pick(p, pipeline) for p in peers}
    received = 0
    while not pk.is_complete:
        p = rng.choice(peers)
        if not queues[p]:
            queues[p] = pk.pick(p, pipeline)
            continue
        block = queues[p].pop()
        received += 1
        for other in pk.on_block_received(p, block):
            queues[other].remove(block)
        if pk.piece_complete(block.index):
            pk.on_piece_verified(block.index)
        queues[p].extend(pk.pick(p, pipeline - len(queues[p])))
    pk.check_invariants()
    return received


def test_full_download_of_8192_pieces_completes() -> None:
    # Speed is measured in bench/, not asserted here (no timed tests).
    received = simulate_download(8192, 16, 4, 16)
    assert received >= 8192 * 16


def test_seeded_random_operations() -> None:
    """Many random operations on a mid-sized torrent; invariants checked every step."""
    rng = random.Random(1234)
    pk = make(40, 3, last_piece=BS + 7, seed=99)
    names = ["a", "b", "c", "d", "e"]
    for _ in range(3000):
        op = rng.random()
        present = pk.peers()
        absent = [n for n in names if n not in present]
        if absent and op < 0.05:
            peer = rng.choice(absent)
            if rng.random() < 0.3:
                pk.add_peer_have_all(peer)
            else:
                pk.add_peer(peer, rng.sample(range(40), rng.randrange(41)))
        elif present and op < 0.08:
            pk.remove_peer(rng.choice(present))
        elif present and op < 0.15:
            pk.peer_has(rng.choice(present), rng.randrange(40))
        elif present and op < 0.45:
            pk.pick(rng.choice(present), rng.randrange(1, 8))
        elif present and op < 0.9:
            sender = rng.choice(present)
            reqs = sorted(pk.requests_of(sender))
            if reqs:
                block = rng.choice(reqs)
                if rng.random() < 0.1:
                    pk.on_request_rejected(sender, block)
                else:
                    pk.on_block_received(sender, block)
                    if pk.piece_complete(block.index):
                        if rng.random() < 0.1:
                            pk.on_piece_failed(block.index)
                        else:
                            pk.on_piece_verified(block.index)
        elif present:
            pk.cancel_all(rng.choice(present))
        pk.check_invariants()
    assert pk.num_have > 0


# ---------------------------------------------------------------- stateful property test

PEER_NAMES = ["p0", "p1", "p2", "p3"]


class PickerMachine(RuleBasedStateMachine):
    """Random sequences of peer events; the picker must stay consistent and never
    hand out a block that is not wanted from that peer."""

    pk: PiecePicker
    peer_pieces: dict[str, set[int]]

    @initialize(
        num_pieces=st.integers(0, 6),
        piece_length=st.sampled_from([4, 6, 8, 12]),
        last=st.integers(1, 12),
        seed=st.integers(0, 2**16),
        have=st.sets(st.integers(0, 5)),
        wanted=st.none() | st.sets(st.integers(0, 5)),
    )
    def setup(
        self,
        num_pieces: int,
        piece_length: int,
        last: int,
        seed: int,
        have: set[int],
        wanted: set[int] | None,
    ) -> None:
        last = min(last, piece_length)
        total = (num_pieces - 1) * piece_length + last if num_pieces else 0
        have = {i for i in have if i < num_pieces}
        if wanted is not None:
            wanted = {i for i in wanted if i < num_pieces}
        self.pk = PiecePicker(
            num_pieces,
            piece_length,
            total,
            block_size=4,
            rng=random.Random(seed),
            have=have,
            wanted=wanted,
        )
        # Part of a folder: only these pieces (and those verified already) are fetched.
        self.model_wanted = set(range(num_pieces)) if wanted is None else wanted | have
        self.peer_pieces = {}
        self.seeds: set[str] = set()  # peers added with add_peer_have_all
        self.model_have = set(have)

    def all_pieces(self) -> set[int]:
        return set(range(self.pk.num_pieces))

    # -- peers come and go

    @rule(name=st.sampled_from(PEER_NAMES), data=st.data())
    def add_peer(self, name: str, data: st.DataObject) -> None:
        if name in self.peer_pieces:
            return
        if data.draw(st.booleans()):
            self.pk.add_peer_have_all(name)
            self.peer_pieces[name] = self.all_pieces()
            self.seeds.add(name)
        else:
            pieces = data.draw(st.sets(st.sampled_from(range(max(self.pk.num_pieces, 1)))))
            pieces = {i for i in pieces if i < self.pk.num_pieces}
            self.pk.add_peer(name, sorted(pieces))
            self.peer_pieces[name] = pieces

    @precondition(lambda self: self.peer_pieces)
    @rule(data=st.data())
    def remove_peer(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.peer_pieces)))
        outstanding = self.pk.requests_of(name)
        assert sorted(self.pk.remove_peer(name)) == sorted(outstanding)
        del self.peer_pieces[name]
        self.seeds.discard(name)

    @precondition(lambda self: self.peer_pieces and self.pk.num_pieces)
    @rule(data=st.data())
    def have(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.peer_pieces)))
        index = data.draw(st.integers(0, self.pk.num_pieces - 1))
        self.pk.peer_has(name, index)
        self.peer_pieces[name].add(index)

    # -- requests

    @precondition(lambda self: self.peer_pieces)
    @rule(data=st.data(), k=st.integers(0, 6))
    def pick(self, data: st.DataObject, k: int) -> None:
        pk = self.pk
        name = data.draw(st.sampled_from(sorted(self.peer_pieces)))
        end_game = pk.in_end_game
        before = pk.requests_of(name)
        state_before = {
            b: pk.block_state(b) for i in self.peer_pieces[name] for b in pk.blocks_of(i)
        }
        got = pk.pick(name, k)
        assert len(got) <= k
        assert len(set(got)) == len(got)
        for b in got:
            assert b.index in self.peer_pieces[name]
            assert b.index in self.model_wanted
            assert b.index not in self.model_have
            assert b not in before
            assert pk.block_state(b) is BlockState.REQUESTED
            if state_before[b] is BlockState.REQUESTED:
                # A duplicate: only in end-game, once no FREE block was left to it, and
                # only a few, to a peer that owed us nothing.
                assert end_game or pk.in_end_game
                assert not before
                assert len(got) <= END_GAME_BLOCKS
            else:
                assert state_before[b] is BlockState.FREE
        assert pk.requests_of(name) == before | set(got)
        # Solo pieces come from their owner only, and from it before anything else.
        solo = {i: pk.solo_owner(i) for i in range(pk.num_pieces) if pk.solo_owner(i)}
        assert all(solo.get(b.index, name) == name for b in got)
        if got and any(solo.get(b.index) != name for b in got):
            for i in (i for i, owner in solo.items() if owner == name):
                assert all(pk.block_state(b) is not BlockState.FREE for b in pk.blocks_of(i))
        # Rarest first: a piece started now is no more common than any piece the peer
        # has that is still untouched.
        untouched = [
            i
            for i in self.peer_pieces[name] & self.model_wanted - self.model_have - set(solo)
            if all(pk.block_state(b) is BlockState.FREE for b in pk.blocks_of(i))
        ]
        started = [
            i
            for i in {b.index for b in got} - set(solo)
            if all(state_before[b] is BlockState.FREE for b in pk.blocks_of(i))
        ]
        for i in started:
            assert all(pk.availability(i) <= pk.availability(j) for j in untouched)
        if started and untouched and set(self.peer_pieces) == self.seeds:
            # Nobody to trade with: untouched pieces are started lowest index first.
            assert max(started) < min(untouched)
        if len(got) < k:
            # Nothing FREE left that this peer could give us.
            for i in self.peer_pieces[name] & self.model_wanted - self.model_have:
                if solo.get(i, name) != name:
                    continue  # another peer's to deliver
                for b in pk.blocks_of(i):
                    assert pk.block_state(b) is not BlockState.FREE
        if k > 0 and not got and pk.in_end_game and not before:
            # End-game and nothing for this peer: it already asked for every block it could.
            for i in self.peer_pieces[name] & self.model_wanted - self.model_have:
                if solo.get(i, name) != name:
                    continue
                for b in pk.blocks_of(i):
                    if pk.block_state(b) is BlockState.REQUESTED:
                        assert b in pk.requests_of(name)

    @precondition(lambda self: any(self.pk.requests_of(p) for p in self.peer_pieces))
    @rule(data=st.data())
    def receive(self, data: st.DataObject) -> None:
        pk = self.pk
        name = data.draw(
            st.sampled_from([p for p in sorted(self.peer_pieces) if pk.requests_of(p)])
        )
        block = data.draw(st.sampled_from(sorted(pk.requests_of(name))))
        expected = {p for p in self.peer_pieces if p != name and block in pk.requests_of(p)}
        others = pk.on_block_received(name, block)
        assert len(others) == len(set(others))
        assert set(others) == expected
        assert pk.block_state(block) is BlockState.RECEIVED
        assert all(block not in pk.requests_of(p) for p in self.peer_pieces)

    @precondition(lambda self: self.pk.num_pieces and self.peer_pieces)
    @rule(data=st.data())
    def receive_any(self, data: st.DataObject) -> None:
        """A block nobody may have asked for (or already received)."""
        pk = self.pk
        name = data.draw(st.sampled_from(sorted(self.peer_pieces)))
        index = data.draw(st.integers(0, pk.num_pieces - 1))
        block = data.draw(st.sampled_from(pk.blocks_of(index)))
        wanted = pk.wants(block) and pk.solo_owner(index) in (None, name)
        dups = pk.num_duplicates
        pk.on_block_received(name, block)
        assert pk.num_duplicates == dups + (not wanted)

    @precondition(lambda self: any(self.pk.requests_of(p) for p in self.peer_pieces))
    @rule(data=st.data(), reject=st.booleans())
    def reject_or_cancel(self, data: st.DataObject, reject: bool) -> None:
        pk = self.pk
        name = data.draw(
            st.sampled_from([p for p in sorted(self.peer_pieces) if pk.requests_of(p)])
        )
        block = data.draw(st.sampled_from(sorted(pk.requests_of(name))))
        if reject:
            assert pk.on_request_rejected(name, block)
        else:
            assert pk.on_request_cancelled(name, block)
        assert block not in pk.requests_of(name)

    @precondition(lambda self: self.peer_pieces)
    @rule(data=st.data())
    def choke(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.peer_pieces)))
        self.pk.cancel_all(name)
        assert self.pk.requests_of(name) == frozenset()

    @precondition(lambda self: self.peer_pieces and self.pk.missing_pieces())
    @rule(data=st.data())
    def fetch_alone(self, data: st.DataObject) -> None:
        """A piece from one peer only (a re-fetch after a failed hash check)."""
        pk = self.pk
        index = data.draw(st.sampled_from(pk.missing_pieces()))
        owners = [p for p in sorted(self.peer_pieces) if index in self.peer_pieces[p]]
        if not owners:
            with pytest.raises(ValueError, match="does not have"):
                pk.set_solo(index, sorted(self.peer_pieces)[0])
            return
        owner = data.draw(st.sampled_from(owners))
        before = {p: pk.requests_of(p) for p in self.peer_pieces}
        released = pk.set_solo(index, owner)
        assert pk.solo_owner(index) == owner
        for peer, block in released:
            assert peer != owner and block.index == index
            assert block in before[peer] and block not in pk.requests_of(peer)
        for peer in self.peer_pieces:
            expected = {b for b in before[peer] if b.index != index or peer == owner}
            assert pk.requests_of(peer) == frozenset(expected)
        if data.draw(st.booleans()):
            pk.clear_solo(index)
            assert pk.solo_owner(index) is None

    # -- hash checks

    @precondition(lambda self: any(self.pk.piece_complete(i) for i in range(self.pk.num_pieces)))
    @rule(data=st.data(), ok=st.booleans())
    def check_hash(self, data: st.DataObject, ok: bool) -> None:
        pk = self.pk
        index = data.draw(
            st.sampled_from([i for i in range(pk.num_pieces) if pk.piece_complete(i)])
        )
        if ok:
            pk.on_piece_verified(index)
            self.model_have.add(index)
        else:
            pk.on_piece_failed(index)
            assert all(pk.block_state(b) is BlockState.FREE for b in pk.blocks_of(index))

    # -- after every step

    @invariant()
    def consistent(self) -> None:
        pk = self.pk
        pk.check_invariants()
        assert pk.num_have == len(self.model_have)
        assert pk.missing_pieces() == sorted(self.model_wanted - self.model_have)
        assert pk.is_complete == (self.model_wanted <= self.model_have)
        for name, pieces in self.peer_pieces.items():
            assert pk.interesting(name) == bool(pieces & self.model_wanted - self.model_have)
            assert all(b.index in pieces for b in pk.requests_of(name))
        for i in range(pk.num_pieces):
            assert pk.availability(i) == sum(i in s for s in self.peer_pieces.values())
        missing = self.all_pieces() - self.model_have
        assert pk.verified_prefix() == min(missing, default=pk.num_pieces)


PickerMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPickerMachine = PickerMachine.TestCase
