"""The swarm cache (services/swarm_cache.py) of the announce registry on a real database:
what it answers from memory, what it writes at once, what it writes later, and what it
must forget, told by the services that end peers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from minitorrent.tracker.db import Database
from minitorrent.tracker.dbwork import DatabaseWork
from minitorrent.tracker.models import Peer
from minitorrent.tracker.services import errors, files, groups, swarm
from minitorrent.tracker.services.announce import AnnounceRegistry
from minitorrent.tracker.services.changes import Change
from minitorrent.tracker.services.swarm_cache import KEEP, REFRESH, STALE_LIMIT, SwarmCache

from .helpers import FakeClock, announce_of, make_group, make_info, make_users, peer_id, share

POLICY = swarm.SwarmPolicy(default_interval=30, grace=5, max_peers=50)


@pytest.fixture
def ih(database: Database, hasher: PasswordHasher, clock: FakeClock) -> str:
    """A file of group "g" (ann admin, bob member) shared by ann; cat is a stranger."""
    with database.session() as db, db.begin():
        make_users(db, hasher, clock(), "ann", "bob", "cat")
        make_group(db, clock(), "g", "ann", "bob")
        return share(db, clock(), "g", "ann", make_info("g"))


def _cache(database: Database, clock: FakeClock) -> SwarmCache:
    """The cache of an announce registry, which hears what committed transactions end."""
    work = DatabaseWork(database)
    cache = SwarmCache(work, POLICY, clock=clock, monotonic=clock.monotonic)
    AnnounceRegistry(work, cache, spawn=_no_background)
    return cache


def _no_background(coro: Coroutine[Any, Any, None]) -> None:
    coro.close()  # these tests refresh by hand


@pytest.fixture
def cache(database: Database, clock: FakeClock) -> Iterator[SwarmCache]:
    yield _cache(database, clock)


def _announce(cache: SwarmCache, user: str, ann: swarm.Announce) -> swarm.AnnounceResult:
    """As TrackerContext.announce does, without the event loop."""
    return cache.answer(user, ann, None) or cache.announce_in_db(user, ann, None)


def _rows(database: Database) -> dict[str, tuple[int, int, datetime]]:
    """peer id -> (port, left, expires_at) of every row."""
    with database.session() as db:
        query = select(Peer.peer_id, Peer.port, Peer.left, Peer.expires_at)
        return {pid: (port, left, expires) for pid, port, left, expires in db.execute(query)}


def test_a_new_peer_is_written_at_once_and_refusals_are_kept(
    database: Database, cache: SwarmCache, ih: str
) -> None:
    assert cache.answer("bob", announce_of(ih, peer=2, left=5), None) is None
    _announce(cache, "bob", announce_of(ih, peer=2, left=5, port=2222))
    assert _rows(database)[peer_id(2)][:2] == (2222, 5)
    with pytest.raises(errors.NotFound, match="unknown torrent"):  # another group's
        _announce(cache, "cat", announce_of(ih, peer=3))
    with pytest.raises(errors.NotFound, match="unknown torrent"):
        _announce(cache, "ann", announce_of("ab" * 20))
    assert set(_rows(database)) == {peer_id(2)}


def test_a_reannounce_is_answered_from_memory_and_written_by_flush(
    database: Database, cache: SwarmCache, ih: str, clock: FakeClock
) -> None:
    _announce(cache, "ann", announce_of(ih, peer=1, port=1111))
    _announce(cache, "bob", announce_of(ih, peer=2, left=9, port=2222))
    before = _rows(database)[peer_id(2)]
    clock.advance(0.5)
    answer = cache.answer("bob", announce_of(ih, peer=2, left=4, port=2223), None)
    assert answer is not None
    assert answer.peers == [swarm.PeerView(peer_id(1), "127.0.0.1", 1111, True, "ann")]
    assert (answer.counts.complete, answer.counts.incomplete) == (1, 1)
    assert _rows(database)[peer_id(2)] == before  # not written yet
    assert cache.flush() == 1
    port, left, expires = _rows(database)[peer_id(2)]
    assert (port, left) == (2223, 4) and expires > before[2]
    assert cache.flush() == 0


def test_others_are_told_a_peers_new_address_at_once_and_after_a_re_read(
    database: Database, cache: SwarmCache, ih: str, clock: FakeClock
) -> None:
    """Answers share each peer's listing until it changes; a queued change survives a
    re-read of the swarm that predates its write."""
    _announce(cache, "ann", announce_of(ih, peer=1, port=1111))
    _announce(cache, "bob", announce_of(ih, peer=2, left=9, port=2222))
    moved = announce_of(ih, peer=2, left=4, ip="127.0.0.2", port=2223)
    assert cache.answer("bob", moved, None) is not None
    told = swarm.PeerView(peer_id(2), "127.0.0.2", 2223, False, "bob")
    for _ in range(2):
        seen = cache.answer("ann", announce_of(ih, peer=1, port=1111), None)
        assert seen is not None and seen.peers == [told]
        clock.advance(REFRESH + 0.1)
        assert cache.claim_refresh(ih)
        cache.refresh(ih)  # reads bob's row as written before the move
    assert cache.flush() == 2
    assert _rows(database)[peer_id(2)][:2] == (2223, 4)


def test_events_and_new_seeds_go_to_the_database(
    database: Database, cache: SwarmCache, ih: str, clock: FakeClock
) -> None:
    _announce(cache, "bob", announce_of(ih, peer=2, left=9))
    for ann in (
        announce_of(ih, peer=2, left=9, event="completed"),
        announce_of(ih, peer=2, left=0),  # a seed now: bob becomes a sharer
        announce_of(ih, peer=2, left=0, event="stopped"),
    ):
        assert cache.answer("bob", ann, None) is None, ann
        cache.announce_in_db("bob", ann, None)
    with database.session() as db:
        listed = files.list_files(db, "bob", "g", now=clock())[0]
    assert (listed.sharers, _rows(database)) == (2, {})


def test_a_new_session_is_written_at_once(database: Database, cache: SwarmCache, ih: str) -> None:
    ann = announce_of(ih, peer=2, left=9)
    _announce(cache, "bob", ann)
    assert cache.answer("bob", ann, None) is not None
    assert cache.answer("bob", ann, 42) is None  # logout deletes peers by session


def _leave(database: Database, user: str) -> None:
    """What DELETE /groups/g/membership does; the service tells the cache itself."""
    with database.session() as db, db.begin():
        groups.leave_group(db, user, "g")


def test_leaving_ends_the_members_answers_only_and_a_queued_update_stays_unwritten(
    database: Database, cache: SwarmCache, ih: str
) -> None:
    _announce(cache, "ann", announce_of(ih, peer=1))
    _announce(cache, "bob", announce_of(ih, peer=2, left=9))
    assert cache.answer("bob", announce_of(ih, peer=2, left=8), None) is not None  # queued
    _leave(database, "bob")
    assert cache.answer("bob", announce_of(ih, peer=2, left=8), None) is None
    stays = cache.answer("ann", announce_of(ih, peer=1), None)  # still from memory
    assert stays is not None and stays.peers == [] and stays.counts.incomplete == 0
    cache.flush()
    assert set(_rows(database)) == {peer_id(1)}
    with pytest.raises(errors.NotFound, match="unknown torrent"):  # not bob's group now
        _announce(cache, "bob", announce_of(ih, peer=2, left=8))


class _Undo(Exception):
    pass


def test_a_leave_that_rolls_back_forgets_nothing(
    database: Database, cache: SwarmCache, ih: str
) -> None:
    _announce(cache, "bob", announce_of(ih, peer=2, left=9))
    with pytest.raises(_Undo), database.session() as db, db.begin():
        groups.leave_group(db, "bob", "g")
        raise _Undo
    assert cache.answer("bob", announce_of(ih, peer=2, left=9), None) is not None


def test_when_the_last_sharer_leaves_the_file_is_forgotten(
    database: Database, cache: SwarmCache, ih: str
) -> None:
    _announce(cache, "ann", announce_of(ih, peer=1))
    _announce(cache, "bob", announce_of(ih, peer=2, left=9))
    _leave(database, "ann")  # bob is admin now; ann shared the only copy
    assert cache.answer("bob", announce_of(ih, peer=2, left=9), None) is None
    with pytest.raises(errors.NotFound, match="unknown torrent"):
        _announce(cache, "bob", announce_of(ih, peer=2, left=9))


def test_a_peer_written_elsewhere_is_listed_after_the_refresh(
    database: Database, ih: str, clock: FakeClock
) -> None:
    """Two trackers on one database: each lists the other's peers within FLUSH + REFRESH."""
    first, second = _cache(database, clock), _cache(database, clock)
    _announce(first, "ann", announce_of(ih, peer=1, port=1111))
    _announce(second, "bob", announce_of(ih, peer=2, left=9, port=2222))
    ann = announce_of(ih, peer=1, port=1111)
    seen = first.answer("ann", ann, None)
    assert seen is not None and seen.peers == []  # first's snapshot predates bob
    assert not first.claim_refresh(ih)  # not due yet
    clock.advance(REFRESH + 0.1)
    stale = first.answer("ann", ann, None)  # still answers, while it is re-read
    assert stale is not None and stale.peers == []
    assert first.claim_refresh(ih) and not first.claim_refresh(ih)  # one refresh at a time
    first.refresh(ih)
    fresh = first.answer("ann", ann, None)
    assert fresh is not None and [p.port for p in fresh.peers] == [2222]


def test_a_snapshot_too_old_to_trust_answers_nothing(
    database: Database, cache: SwarmCache, ih: str, clock: FakeClock
) -> None:
    """If its refresh keeps failing, the database answers instead."""
    _announce(cache, "bob", announce_of(ih, peer=2, left=9))
    clock.advance(STALE_LIMIT + 0.1)
    assert cache.answer("bob", announce_of(ih, peer=2, left=9), None) is None


def test_a_peer_that_stopped_announcing_expires_from_answers(
    database: Database, cache: SwarmCache, ih: str, clock: FakeClock
) -> None:
    _announce(cache, "bob", announce_of(ih, peer=2, left=9, interval=10))
    _announce(cache, "ann", announce_of(ih, peer=1, interval=100))
    for _ in range(30):  # ann keeps announcing; bob's 2 * 10 + 5 s run out
        clock.advance(1)
        if cache.claim_refresh(ih):
            cache.refresh(ih)
        result = _announce(cache, "ann", announce_of(ih, peer=1, interval=100))
    assert (result.peers, result.counts.incomplete) == ([], 0)


def test_unused_snapshots_are_dropped(
    database: Database, cache: SwarmCache, ih: str, clock: FakeClock
) -> None:
    _announce(cache, "bob", announce_of(ih, peer=2, left=9))
    clock.advance(KEEP + 1)
    cache.flush()
    assert cache.answer("bob", announce_of(ih, peer=2, left=9), None) is None


class _RacingDatabase:
    """The database as a cache sees it, where `then` runs right after the next read
    ends once armed: a refresh in a worker thread (PostgreSQL) racing another request."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._then: Callable[[], None] | None = None

    def arm(self, then: Callable[[], None]) -> None:
        self._then = then

    def session(self) -> Session:
        return self._database.session()

    def on_commit(self, listener: Callable[[list[Change]], None]) -> None:
        self._database.on_commit(listener)

    @property
    def engine(self) -> Engine:
        return self._database.engine

    @property
    def runs_on_event_loop(self) -> bool:
        return self._database.runs_on_event_loop

    def read_session(self) -> Session:
        session = self._database.read_session()
        then, self._then = self._then, None
        if then is not None:
            event.listen(session, "after_transaction_end", lambda *_: then(), once=True)
        return session


def test_a_refresh_read_before_a_leave_does_not_bring_the_leavers_peers_back(
    database: Database, ih: str, clock: FakeClock
) -> None:
    racing = _RacingDatabase(database)
    cache = _cache(racing, clock)  # type: ignore[arg-type]
    _announce(cache, "ann", announce_of(ih, peer=1))
    _announce(cache, "bob", announce_of(ih, peer=2, left=9))
    clock.advance(REFRESH + 0.1)
    assert cache.claim_refresh(ih)
    racing.arm(lambda: _leave(database, "bob"))
    cache.refresh(ih)  # reads bob's peer; bob leaves; then the refresh would install it
    assert cache.answer("bob", announce_of(ih, peer=2, left=9), None) is None
    stays = cache.answer("ann", announce_of(ih, peer=1), None)
    assert stays is not None and stays.peers == []
