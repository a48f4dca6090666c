"""The swarm registry, without HTTP: who may announce, what they get, when peers expire."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minitorrent.tracker.models import Peer
from minitorrent.tracker.services import errors, files, swarm

from .helpers import FakeClock, announce_of, make_group, make_info, make_users, peer_id, share

POLICY = swarm.SwarmPolicy(default_interval=30, grace=5, max_peers=50)


@pytest.fixture
def ih(db: Session, hasher: PasswordHasher, clock: FakeClock) -> str:
    """A file of group "g" (ann admin, bob member) shared by ann; cat is a stranger."""
    make_users(db, hasher, clock(), "ann", "bob", "cat")
    make_group(db, clock(), "g", "ann", "bob")
    return share(db, clock(), "g", "ann", make_info("g"))


def _go(
    db: Session,
    user: str,
    ann: swarm.Announce,
    clock: FakeClock,
    policy: swarm.SwarmPolicy = POLICY,
) -> swarm.AnnounceResult:
    return swarm.announce(db, user, ann, session_id=None, policy=policy, now=clock())


def _peer_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Peer)) or 0


def test_unknown_torrent_and_strangers(db: Session, ih: str, clock: FakeClock) -> None:
    with pytest.raises(errors.NotFound, match="unknown torrent"):
        _go(db, "ann", announce_of("ab" * 20), clock)
    with pytest.raises(errors.NotFound, match="unknown torrent"):  # as if there were none
        _go(db, "cat", announce_of(ih), clock)
    assert _peer_count(db) == 0


def test_peers_see_each_other_but_not_themselves(db: Session, ih: str, clock: FakeClock) -> None:
    first = _go(db, "ann", announce_of(ih, peer=1, port=1111), clock)
    assert (first.peers, first.counts.complete, first.interval) == ([], 1, 30)
    second = _go(db, "bob", announce_of(ih, peer=2, left=10, ip="10.0.0.2", port=2222), clock)
    assert second.peers == [swarm.PeerView(peer_id(1), "127.0.0.1", 1111, True, "ann")]
    assert (second.counts.complete, second.counts.incomplete) == (1, 1)
    again = _go(db, "ann", announce_of(ih, peer=1, port=1111), clock)
    assert again.peers == [swarm.PeerView(peer_id(2), "10.0.0.2", 2222, False, "bob")]


def test_reannounce_updates_the_same_entry(db: Session, ih: str, clock: FakeClock) -> None:
    _go(db, "bob", announce_of(ih, left=10, port=1000), clock)
    _go(db, "bob", announce_of(ih, left=5, port=2000), clock)
    assert db.execute(select(Peer.left, Peer.port)).all() == [(5, 2000)]


def test_same_peer_id_of_two_users_are_two_peers(db: Session, ih: str, clock: FakeClock) -> None:
    _go(db, "ann", announce_of(ih, peer=7), clock)
    result = _go(db, "bob", announce_of(ih, peer=7, left=1), clock)
    assert [p.peer_id for p in result.peers] == [peer_id(7)]


def test_stopped_removes_the_peer(db: Session, ih: str, clock: FakeClock) -> None:
    _go(db, "bob", announce_of(ih, left=10), clock)
    result = _go(db, "bob", announce_of(ih, left=10, event="stopped"), clock)
    assert (result.peers, result.counts.incomplete, _peer_count(db)) == ([], 0, 0)


def test_finished_download_becomes_a_sharer(db: Session, ih: str, clock: FakeClock) -> None:
    _go(db, "bob", announce_of(ih, left=10), clock)
    assert files.list_files(db, "ann", "g", now=clock())[0].sharers == 1
    _go(db, "bob", announce_of(ih, left=0, event="completed"), clock)
    assert files.list_files(db, "ann", "g", now=clock())[0].sharers == 2
    files.stop_share(db, "ann", "g", "file.bin")  # bob keeps the file listed
    assert files.list_files(db, "bob", "g", now=clock())[0].sharers == 1


def test_completed_events_are_counted_for_scrape(db: Session, ih: str, clock: FakeClock) -> None:
    _go(db, "bob", announce_of(ih, left=0, event="completed"), clock)
    counts = swarm.scrape(db, "bob", [ih], now=clock())[ih]
    assert counts == swarm.Counts(complete=1, incomplete=0, downloaded=1)


def test_peer_expires_after_two_intervals_and_grace(db: Session, ih: str, clock: FakeClock) -> None:
    _go(db, "ann", announce_of(ih, peer=1, interval=10), clock)
    clock.advance(24)  # 2 * 10 + 5 = 25 s of life
    assert len(_go(db, "bob", announce_of(ih, peer=2, left=1), clock).peers) == 1
    clock.advance(1)
    result = _go(db, "bob", announce_of(ih, peer=2, left=1), clock)
    assert (result.peers, result.counts.complete) == ([], 0)  # hidden before any cleanup
    assert swarm.prune_expired(db, now=clock()) == 1
    assert _peer_count(db) == 1


def test_default_interval_sets_the_expiry(db: Session, ih: str, clock: FakeClock) -> None:
    _go(db, "ann", announce_of(ih, peer=1), clock)
    clock.advance(64)
    assert swarm.prune_expired(db, now=clock()) == 0
    clock.advance(1)
    assert swarm.prune_expired(db, now=clock()) == 1


def test_numwant_and_max_peers(db: Session, ih: str, clock: FakeClock) -> None:
    for n in range(10):
        _go(db, "ann", announce_of(ih, peer=n), clock)
    assert len(_go(db, "bob", announce_of(ih, peer=99, numwant=3), clock).peers) == 3
    assert len(_go(db, "bob", announce_of(ih, peer=99, numwant=0), clock).peers) == 0
    small = swarm.SwarmPolicy(max_peers=4)
    assert len(_go(db, "bob", announce_of(ih, peer=99, numwant=100), clock, small).peers) == 4
    assert len(_go(db, "bob", announce_of(ih, peer=99), clock).peers) == 10


def test_scrape_only_sees_the_users_groups(db: Session, ih: str, clock: FakeClock) -> None:
    make_group(db, clock(), "h", "cat")
    other = share(db, clock(), "h", "cat", make_info("h"))
    assert set(swarm.scrape(db, "cat", None, now=clock())) == {other}
    assert swarm.scrape(db, "cat", [ih], now=clock()) == {}
    assert set(swarm.scrape(db, "ann", [ih, other], now=clock())) == {ih}


def test_ipv4_mapped_addresses_are_stored_as_ipv4(db: Session, ih: str, clock: FakeClock) -> None:
    _go(db, "ann", announce_of(ih, ip="::ffff:10.1.2.3"), clock)
    _go(db, "bob", announce_of(ih, peer=2, ip="2001:DB8::1"), clock)
    assert sorted(db.scalars(select(Peer.ip))) == ["10.1.2.3", "2001:db8::1"]


GOOD: dict[str, Any] = dict(
    info_hash="a" * 40, peer_id="b" * 40, ip="1.2.3.4", port=1, uploaded=0, downloaded=0, left=0
)


@pytest.mark.parametrize(
    "bad",
    [
        {"info_hash": "a" * 39},
        {"info_hash": "A" * 40},
        {"peer_id": "g" * 40},
        {"ip": "1.2.3"},
        {"ip": "example.com"},
        {"port": 0},
        {"port": 65536},
        {"left": -1},
        {"uploaded": 2**63},
        {"event": "bogus"},
        {"interval": 0},
        {"interval": 3601},
        {"numwant": -1},
    ],
)
def test_malformed_announces_are_invalid(bad: dict[str, Any]) -> None:
    with pytest.raises(errors.Invalid):
        swarm.Announce(**{**GOOD, **bad})


@pytest.mark.parametrize(
    "edge", [{"port": 65535}, {"interval": 1}, {"interval": 3600}, {"left": 2**63 - 1}]
)
def test_announce_edges_are_valid(edge: dict[str, Any]) -> None:
    swarm.Announce(**{**GOOD, **edge})
