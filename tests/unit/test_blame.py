"""Blame for failed pieces falls on whoever sent the bad blocks, never on a bystander;
a member running many peer ids counts as one."""

from __future__ import annotations

from minitorrent.peer.blame import Blame, Source, block_digests

ANN, BOB, MAL = "user ann", "user bob", "user mal"
HONEST: Source = (b"honest", ANN)
MAL1: Source = (b"mal-1", MAL)
MAL2: Source = (b"mal-2", MAL)  # the same member, another peer id
BOB1: Source = (b"bob-1", BOB)

GOOD = [b"good-%d" % n for n in range(4)]


def _copy(senders: list[Source], bad: set[int]) -> list[tuple[Source, bytes]]:
    """A copy of a 4-block piece: block n from senders[n], garbage where n is in bad."""
    return [(s, b"junk" if n in bad else GOOD[n]) for n, s in enumerate(senders)]


def test_two_poisoners_and_an_honest_seeder_only_the_poisoners_are_blamed() -> None:
    blame = Blame()
    # Each poisoner slipped one garbage block into a piece the honest seeder shared in.
    assert blame.piece_failed(0, _copy([MAL1, HONEST, MAL2, HONEST], {0, 2})) == set()
    assert blame.piece_failed(1, _copy([HONEST, MAL2, HONEST, MAL1], {1, 3})) == set()
    assert blame.suspect(0) and blame.suspect(1)
    # The re-fetch from the honest seeder alone verifies: the differing blocks tell.
    assert blame.piece_verified(0, GOOD, ANN) == {MAL}
    assert blame.piece_verified(1, GOOD, ANN) == {MAL}
    assert blame.suspect_pieces() == []


def test_a_peer_whose_blocks_matched_the_good_copy_is_cleared() -> None:
    blame = Blame()
    blame.piece_failed(3, _copy([MAL1, HONEST, HONEST, HONEST], {0}))
    assert blame.piece_verified(3, GOOD, None) == {MAL}  # good copy from several peers


def test_a_failed_copy_from_one_peer_alone_convicts_it() -> None:
    blame = Blame()
    blame.piece_failed(0, _copy([MAL1, HONEST, HONEST, HONEST], {0}))
    assert blame.piece_failed(0, _copy([MAL1] * 4, {2})) == {MAL}
    assert blame.suspect(0)  # the first failed copy still waits for a good one
    assert blame.piece_verified(0, GOOD, ANN) == {MAL}


def test_a_failed_copy_from_one_member_s_peer_ids_alone_convicts_the_member() -> None:
    blame = Blame()
    assert blame.piece_failed(0, _copy([MAL1, MAL2, MAL1, MAL2], {1})) == {MAL}


def test_a_re_fetch_never_goes_to_another_peer_id_of_an_implicated_member() -> None:
    blame = Blame()
    blame.piece_failed(0, _copy([MAL1, HONEST, HONEST, HONEST], {0}))
    fresh: Source = (b"mal-3", MAL)
    assert not blame.may_refetch(0, MAL2)
    assert not blame.may_refetch(0, fresh)
    assert blame.may_refetch(0, MAL1)  # alone, it convicts itself or clears itself
    assert blame.may_refetch(0, HONEST)
    assert blame.may_refetch(1, MAL2)  # another piece: nothing against it there
    blame.piece_verified(0, GOOD, ANN)
    assert blame.may_refetch(0, MAL2)


def test_the_re_fetch_goes_first_to_proven_members_then_to_unconvicted_ones() -> None:
    blame = Blame()
    blame.piece_failed(0, _copy([MAL1, HONEST, BOB1, HONEST], {0}))
    assert blame.rank(HONEST) == blame.rank(BOB1)  # both implicated once: no evidence yet
    blame.piece_failed(1, _copy([MAL1] * 4, {1}))  # mal convicted
    fresh: Source = (b"mal-3", MAL)  # a new peer id of the convicted member
    assert blame.rank(HONEST) < blame.rank(fresh) == blame.rank(MAL2)
    blame.piece_verified(2, GOOD, BOB)  # delivered a whole good piece alone
    assert blame.rank(BOB1) < blame.rank(HONEST)


def test_a_member_that_let_a_re_fetch_stall_is_asked_after_the_others() -> None:
    blame = Blame()
    blame.piece_failed(0, _copy([MAL1, HONEST, BOB1, HONEST], {0}))
    blame.stalled(MAL2)  # it got the re-fetch, then choked us
    assert blame.rank(MAL1) == blame.rank(MAL2)  # a fresh peer id does not wipe the record
    assert blame.rank(BOB1) < blame.rank(MAL1)
    assert blame.rank(HONEST) < blame.rank(MAL1)


def test_memory_is_bounded() -> None:
    blame = Blame(max_pieces=3, max_attempts=2)
    for index in range(10):
        for _ in range(5):
            blame.piece_failed(index, _copy([MAL1, HONEST, MAL2, HONEST], {0}))
    assert blame.suspect_pieces() == [7, 8, 9]
    assert blame.rank(HONEST)[3] == 3 * 2  # implicated only by the copies still kept
    blame.piece_verified(7, GOOD, None)
    blame.piece_verified(8, GOOD, None)
    blame.piece_verified(9, GOOD, None)
    assert blame.rank(HONEST) == (True, False, 0, 0)


def test_block_digests_cover_every_block_including_a_short_last_one() -> None:
    data = bytes(range(256)) * 4 + b"tail"
    digests = block_digests(data, 256)
    assert len(digests) == 5 and len(set(digests)) == 2  # 4 equal blocks, one tail
    assert block_digests(memoryview(data), 256) == digests
