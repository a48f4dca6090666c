"""The swarm cache: most announces answered from memory, their writes batched.

Nearly every announce is a known peer saying "still here": it moves the row's timers and
counters and asks for peers. Writing each one (and reading the swarm back) capped a
tracker at a few hundred announces a second. Here such an announce is answered from a
snapshot of the file's swarm and its row update is queued; `flush` writes the queue in
one statement about twice a second.

Everything the database must know at once still goes through it, in the announcing
request (`swarm.announce`): a peer new to the snapshot (so membership is checked on the
way in and vouching sees it at once), `started` from a peer the snapshot lacks, `stopped`,
`completed`, a peer becoming a seed (it becomes a sharer), a new session.

Snapshots hold every tracker's peers and are re-read after REFRESH seconds, so with
several trackers on one database a peer announced to one is in the others' answers
within FLUSH + REFRESH seconds. A queued update never inserts: a row that a leave, a
logout or stop_share deleted meanwhile stays deleted, and the services that delete rows
record what they end (services/changes.py), which the announce registry drops here
after the commit (`forget_shares`, `forget_users`) so this tracker answers from the
database again at once. The announce rules themselves are swarm.SwarmPolicy's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from random import Random
from typing import Any

from minitorrent.tracker.dbwork import DatabaseWork
from minitorrent.tracker.services import swarm
from minitorrent.tracker.services.addresses import normalize_ip
from minitorrent.tracker.services.clock import Clock

log = logging.getLogger(__name__)

REFRESH = 1.0  # seconds a snapshot of a swarm is trusted, with other trackers writing
# With the database to itself (SQLite) a tracker sees every change it needs to drop a
# snapshot for; re-reading is only a safety net then. At REFRESH, re-reading 100 busy
# swarms took a fifth of the tracker's time in the load test.
SOLE_REFRESH = 10.0
# An older snapshot still answers while one refresh of it runs in the background (a
# request that waited for it stalled every announce of the file: p99 0.5 s under wrk);
# one this old, with its refresh stuck or failing, answers nothing.
STALE_LIMIT = 5 * REFRESH
FLUSH = 0.5  # seconds between writes of the queued re-announces
KEEP = 30.0  # seconds an unused snapshot stays in memory

PeerKey = tuple[str, str]  # (user_id, peer_id)
RowKey = tuple[int, str, str]  # (file_id, user_id, peer_id)
# A queued re-announce: (ip, port, left, expires_at, uploaded, downloaded, last_seen), a
# tuple since the busiest peers queue one per announce (a dict per row was 3 % of one).
Queued = tuple[str, int, int, Any, int, int, Any]
_QUEUED_COLUMNS = ("ip", "port", "left", "expires_at", "uploaded", "downloaded", "last_seen")


@dataclass
class _Peer:
    session_id: int | None
    ip: str
    port: int
    left: int
    expires_at: Any  # datetime, as the clock gives it
    # What other peers' answers list; immutable, so shared by every answer until the
    # address or `left` changes (a PeerView per peer per answer was 8 % of an announce).
    view: swarm.PeerView

    def move(self, key: PeerKey, ip: str, port: int, left: int) -> None:
        if (ip, port, left) != (self.ip, self.port, self.left):
            self.ip, self.port, self.left = ip, port, left
            self.view = _view(key, ip, port, left)


def _view(key: PeerKey, ip: str, port: int, left: int) -> swarm.PeerView:
    return swarm.PeerView(key[1], ip, port, left == 0, user_id=key[0])


@dataclass
class _Swarm:
    file: swarm.FileRef
    peers: dict[PeerKey, _Peer]
    loaded: float  # monotonic time of the read
    refreshing: bool = False


class SwarmCache:
    """Thread-safe: the event loop answers from memory, worker threads read and write."""

    def __init__(
        self,
        work: DatabaseWork,
        policy: swarm.SwarmPolicy,
        *,
        clock: Clock,
        monotonic: Callable[[], float],
        rng: Random | None = None,
        refresh: float = REFRESH,
        stale_limit: float = STALE_LIMIT,
    ) -> None:
        self._rng = rng or Random()
        self._work = work
        self._policy = policy
        self._clock = clock
        self._monotonic = monotonic
        self._refresh = refresh
        self._stale_limit = stale_limit
        self._lock = threading.Lock()  # guards the two dicts below
        self._swarms: dict[str, _Swarm] = {}
        self._queued: dict[RowKey, Queued] = {}
        # Held across a write and its commit, by `flush` and by `announce_in_db`, so a
        # queued older update never lands after a newer write-through of the same row.
        self._write_lock = threading.Lock()
        # Calls of the forget_* methods so far: a snapshot read before one of them may
        # hold what it ended, and is not installed (see _install_read).
        self._invalidations = 0

    # -- answering --------------------------------------------------------------------

    def answer(
        self, user_id: str, ann: swarm.Announce, session_id: int | None
    ) -> swarm.AnnounceResult | None:
        """The answer from memory, or None when the database must see this announce.
        A snapshot older than REFRESH still answers: see `claim_refresh`."""
        return self.answer_claiming(user_id, ann, session_id, claim=False)[0]

    def answer_claiming(
        self, user_id: str, ann: swarm.Announce, session_id: int | None, *, claim: bool = True
    ) -> tuple[swarm.AnnounceResult | None, bool]:
        """`answer`, and with an answer what `claim_refresh` would say (unless `claim` is
        False): one lock and one clock read for both, since every announce asks."""
        now = self._clock()
        with self._lock:
            cached = self._swarms.get(ann.info_hash)
            if cached is None:
                return None, False
            age = self._monotonic() - cached.loaded
            if age > self._stale_limit:
                return None, False
            key = (user_id, ann.peer_id)
            peer = cached.peers.get(key)
            if (
                peer is None
                or peer.expires_at <= now
                or peer.session_id != session_id
                or ann.event not in ("", "started")
                or swarm.becomes_sharer(ann.left, peer.left)  # the database records that
            ):
                return None, False
            interval = self._policy.interval(ann)
            peer.move(key, normalize_ip(ann.ip), ann.port, ann.left)
            peer.expires_at = expires_at = self._policy.expires_at(now, interval)
            self._queued[(cached.file.id, user_id, ann.peer_id)] = (
                peer.ip,
                ann.port,
                ann.left,
                expires_at,
                ann.uploaded,
                ann.downloaded,
                now,
            )
            due = claim and self._claim(cached, age)
            return self._result(cached, key, interval, self._policy.numwant(ann), now), due

    def announce_in_db(
        self, user_id: str, ann: swarm.Announce, session_id: int | None
    ) -> swarm.AnnounceResult:
        """Blocking: re-read the swarm and answer from memory if that is enough; else the
        whole announce in the database. Raises the domain errors of swarm.announce."""
        self._reload(ann.info_hash)
        answer = self.answer(user_id, ann, session_id)
        if answer is not None:
            return answer
        now = self._clock()
        with self._write_lock:
            since = self._generation()
            with self._work.transaction() as db:
                result = swarm.announce(
                    db, user_id, ann, session_id=session_id, policy=self._policy, now=now
                )
                snapshot = swarm.load_swarm(db, ann.info_hash, now=now)
                loaded = self._monotonic()
            with self._lock:
                if snapshot is not None:
                    # Queued before this write, so older than it: drop, don't write.
                    self._queued.pop((snapshot.file.id, user_id, ann.peer_id), None)
                self._install_read(ann.info_hash, snapshot, loaded, since)
        return result

    def claim_refresh(self, info_hash: str) -> bool:
        """True once per snapshot older than REFRESH: the caller then runs `refresh`."""
        with self._lock:
            cached = self._swarms.get(info_hash)
            return cached is not None and self._claim(cached, self._monotonic() - cached.loaded)

    def _claim(self, cached: _Swarm, age: float) -> bool:
        """Under the lock: True once per snapshot older than REFRESH."""
        if cached.refreshing or age <= self._refresh:
            return False
        cached.refreshing = True
        return True

    def refresh(self, info_hash: str) -> None:
        """Blocking: re-read the swarm (after claim_refresh)."""
        try:
            self._reload(info_hash)
        finally:
            with self._lock:  # a failed read may be claimed again
                cached = self._swarms.get(info_hash)
                if cached is not None:
                    cached.refreshing = False

    def _result(
        self, cached: _Swarm, key: PeerKey, interval: int, limit: int, now: Any
    ) -> swarm.AnnounceResult:
        seeds = leechers = 0
        others: list[swarm.PeerView] = []
        for other_key, peer in cached.peers.items():
            if peer.expires_at <= now:
                continue
            seed = peer.left == 0
            seeds += seed
            leechers += not seed
            if other_key != key:
                others.append(peer.view)
        if len(others) > limit:
            others = self._rng.sample(others, limit)
        elif len(others) > 1:
            self._rng.shuffle(others)
        counts = swarm.Counts(seeds, leechers, cached.file.completed)
        return swarm.AnnounceResult(interval, others, counts)

    # -- reading and writing ----------------------------------------------------------

    def _generation(self) -> int:
        with self._lock:
            return self._invalidations

    def _reload(self, info_hash: str) -> None:
        since = self._generation()
        with self._work.read_transaction() as db:
            snapshot = swarm.load_swarm(db, info_hash, now=self._clock())
        loaded = self._monotonic()
        with self._lock:
            self._install_read(info_hash, snapshot, loaded, since)

    def _install_read(
        self, info_hash: str, snapshot: swarm.SwarmSnapshot | None, loaded: float, since: int
    ) -> None:
        """Caller holds _lock. What a read found, unless a forget_* came after generation
        `since`: with worker threads (PostgreSQL) a read that began before a leave or a
        logout committed could otherwise put back the peers it ended, answered from
        memory without a membership check. What is cached stays: the forget trimmed it."""
        if snapshot is None:
            self._swarms.pop(info_hash, None)
        elif since == self._invalidations:
            self._install(snapshot, loaded)

    def _install(self, snapshot: swarm.SwarmSnapshot, loaded: float) -> None:
        """Caller holds _lock. Queued updates not yet written are newer than the rows."""
        file_id = snapshot.file.id
        peers: dict[PeerKey, _Peer] = {}
        for p in snapshot.peers:
            key = (p.user_id, p.peer_id)
            ip, port, left, expires_at, *_ = self._queued.get(
                (file_id, *key), (p.ip, p.port, p.left, p.expires_at)
            )
            peers[key] = _Peer(p.session_id, ip, port, left, expires_at, _view(key, ip, port, left))
        self._swarms[snapshot.info_hash] = _Swarm(snapshot.file, peers, loaded)

    def flush(self) -> int:
        """Blocking: write the queued re-announces; returns how many. On a database error
        they stay queued (unless newer ones replaced them) and the error propagates."""
        with self._write_lock:
            with self._lock:
                rows, self._queued = self._queued, {}
                self._evict_unused()
            try:
                with self._work.transaction() as db:
                    swarm.touch_peers(db, [_row(key, queued) for key, queued in rows.items()])
            except Exception:
                with self._lock:
                    self._queued = rows | self._queued
                raise
        return len(rows)

    def _evict_unused(self) -> None:
        """Caller holds _lock. Keeps memory flat: snapshots nobody asked for lately go."""
        oldest = self._monotonic() - KEEP
        for info_hash in [h for h, s in self._swarms.items() if s.loaded < oldest]:
            del self._swarms[info_hash]

    # -- invalidation (after writes that delete peers) --------------------------------

    def forget_shares(
        self, user_id: str, file_ids: Collection[int], files_gone: Collection[int]
    ) -> None:
        """The user's peers of `file_ids` ended (a leave, a removal, a share ended);
        `files_gone` were deleted. Other members' peers stay: dropping whole snapshots
        sent every member's next announce of those files to the database (a third of
        the load test's announces, with memberships changing 30 times a second)."""
        with self._lock:
            self._invalidations += 1
            for info_hash, cached in list(self._swarms.items()):
                if cached.file.id in files_gone:
                    del self._swarms[info_hash]
                elif cached.file.id in file_ids:
                    for key in [k for k in cached.peers if k[0] == user_id]:
                        del cached.peers[key]

    def forget_users(self, user_ids: Collection[str]) -> None:
        """Drop the snapshots holding these users' peers (ended sessions ended some)."""
        with self._lock:
            self._invalidations += 1
            stale = [h for h, s in self._swarms.items() if any(k[0] in user_ids for k in s.peers)]
            for info_hash in stale:
                del self._swarms[info_hash]


def _row(key: RowKey, queued: Queued) -> dict[str, Any]:
    """A queued re-announce as swarm.touch_peers writes it."""
    file_id, user_id, peer_id = key
    return {"file_id": file_id, "user_id": user_id, "peer_id": peer_id} | dict(
        zip(_QUEUED_COLUMNS, queued, strict=True)
    )
