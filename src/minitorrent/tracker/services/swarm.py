"""The swarm registry: live peers of each file, shared by the JSON and BitTorrent announces."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Integer, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.models import Membership, Peer, SharedFile
from minitorrent.tracker.services import changes
from minitorrent.tracker.services.addresses import normalize_ip
from minitorrent.tracker.services.errors import Invalid, NotFound
from minitorrent.tracker.services.files import add_sharer
from minitorrent.tracker.services.sql import dialect_insert, dialect_of

Event = Literal["started", "completed", "stopped", ""]
EVENTS: tuple[Event, ...] = ("started", "completed", "stopped", "")
MAX_COUNTER = 2**63 - 1  # BIGINT
MAX_INTERVAL = 3600
_HEX40 = re.compile(r"[0-9a-f]{40}")
_COUNTERS = (
    ("uploaded", ErrorCode.BAD_UPLOADED),
    ("downloaded", ErrorCode.BAD_DOWNLOADED),
    ("left", ErrorCode.BAD_LEFT),
)


@dataclass(slots=True)
class Announce:
    """One announce, checked on construction. Hashes and peer ids are lowercase hex.
    Treated as immutable, but not frozen: every announce builds one, and a frozen
    dataclass's __init__ (object.__setattr__ per field) took four times as long."""

    info_hash: str
    peer_id: str
    ip: str
    port: int
    uploaded: int
    downloaded: int
    left: int
    event: Event = ""
    interval: int | None = None  # the announcer's own re-announce period
    numwant: int | None = None

    def __post_init__(self) -> None:
        if not (_HEX40.fullmatch(self.info_hash) and _HEX40.fullmatch(self.peer_id)):
            for field, code in (
                ("info_hash", ErrorCode.BAD_INFO_HASH),
                ("peer_id", ErrorCode.BAD_PEER_ID),
            ):
                if not _HEX40.fullmatch(getattr(self, field)):
                    raise Invalid(f"{field} must be 40 lowercase hex digits", code=code)
        normalize_ip(self.ip)
        if not 1 <= self.port <= 65535:
            raise Invalid("port must be 1-65535", code=ErrorCode.BAD_PORT)
        # Checked once together, then one by one for the reason: every announce builds one.
        if not (
            0 <= self.uploaded <= MAX_COUNTER
            and 0 <= self.downloaded <= MAX_COUNTER
            and 0 <= self.left <= MAX_COUNTER
        ):
            for field, code in _COUNTERS:
                if not 0 <= getattr(self, field) <= MAX_COUNTER:
                    raise Invalid(f"{field} must be 0-{MAX_COUNTER}", code=code)
        if self.event not in EVENTS:
            raise Invalid(f"unknown event {self.event!r}", code=ErrorCode.BAD_EVENT)
        if self.interval is not None and not 1 <= self.interval <= MAX_INTERVAL:
            raise Invalid(f"interval must be 1-{MAX_INTERVAL}", code=ErrorCode.BAD_INTERVAL)
        if self.numwant is not None and self.numwant < 0:
            raise Invalid("numwant must not be negative", code=ErrorCode.BAD_NUMWANT)


@dataclass(frozen=True)
class SwarmPolicy:
    """The announce rules, written once for the database and the in-memory paths."""

    default_interval: int = 30
    grace: int = 5  # a peer lives 2 * interval + grace seconds after its announce
    max_peers: int = 50

    def interval(self, ann: Announce) -> int:
        """The announcer's own re-announce period, else the tracker's."""
        return ann.interval or self.default_interval

    def expires_at(self, now: datetime, interval: int) -> datetime:
        """When a peer that announced `now` leaves the swarm unless it announces again."""
        return now + _seconds(2 * interval + self.grace)

    def numwant(self, ann: Announce) -> int:
        """How many other peers an answer lists at most."""
        return self.max_peers if ann.numwant is None else min(ann.numwant, self.max_peers)


@functools.lru_cache(maxsize=4096)  # intervals are at most MAX_INTERVAL: few values
def _seconds(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


def becomes_sharer(left: int, known_left: int | None) -> bool:
    """A finished download makes its user a sharer of the file. A peer already known as
    a seed is one already: whatever ends a share (stop_share, leaving) deletes its peers.
    `known_left`: the peer's `left` as last recorded (None: a new peer)."""
    return left == 0 and known_left != 0


@dataclass(frozen=True)
class PeerView:
    peer_id: str
    ip: str
    port: int
    seed: bool
    user_id: str = ""  # whose peer it is (the JSON answer shows it to group members)


# Built for every announce, so slotted rather than frozen (as Announce): treated as
# immutable.
@dataclass(slots=True)
class Counts:
    complete: int  # live seeders
    incomplete: int  # live leechers
    downloaded: int  # "completed" events seen


@dataclass(slots=True)
class AnnounceResult:
    interval: int
    peers: list[PeerView]
    counts: Counts


# Announces are most of a tracker's traffic. Their statements are built once, with bind
# parameters, and run on the session's connection (Core, no ORM layer): building them per
# request (the upsert's `excluded` columns above all) cost more CPU than running them
# (profiled with py-spy under tests/load: 3.8 -> 0.9 ms of CPU per announce).
_COUNTS = select(
    func.count(Peer.id).filter(Peer.left == 0),
    func.count(Peer.id).filter(Peer.left > 0),
).where(Peer.file_id == bindparam("file_id"), Peer.expires_at > bindparam("now"))
# The file, whether the user is a member of its group, and the `left` of the announcing
# peer's row if it has one.
_MEMBER_FILE = (
    select(SharedFile.id, SharedFile.group_id, SharedFile.completed, Membership.id, Peer.left)
    .outerjoin(
        Membership,
        (Membership.group_id == SharedFile.group_id) & (Membership.user_id == bindparam("user_id")),
    )
    .outerjoin(
        Peer,
        (Peer.file_id == SharedFile.id)
        & (Peer.user_id == bindparam("user_id"))
        & (Peer.peer_id == bindparam("peer_id")),
    )
    .where(SharedFile.info_hash == bindparam("info_hash"))
)
_PEER_KEY = (
    Peer.file_id == bindparam("file_id"),
    Peer.user_id == bindparam("user_id"),
    Peer.peer_id == bindparam("peer_id"),
)
_PEER_KEY_COLUMNS = ("file_id", "user_id", "peer_id")
_PEER_COLUMNS = (
    *_PEER_KEY_COLUMNS,
    *("session_id", "ip", "port", "left", "uploaded", "downloaded", "last_seen", "expires_at"),
)
_STOPPED = delete(Peer).where(*_PEER_KEY)
_OTHER_PEERS = (
    select(Peer.peer_id, Peer.ip, Peer.port, Peer.left, Peer.user_id)
    .where(Peer.file_id == bindparam("file_id"), Peer.expires_at > bindparam("now"))
    .where(~((Peer.user_id == bindparam("user_id")) & (Peer.peer_id == bindparam("peer_id"))))
    .order_by(func.random())
    .limit(bindparam("numwant", type_=Integer))
)
_COMPLETED = (
    update(SharedFile)
    .where(SharedFile.id == bindparam("file_id"))
    .values(completed=SharedFile.completed + 1)
    .returning(SharedFile.completed)
)


def _build_peer_upsert(dialect: str) -> Any:
    insert = dialect_insert(dialect, Peer)
    changes = {name: insert.excluded[name] for name in _PEER_COLUMNS[3:]}
    return insert.on_conflict_do_update(index_elements=_PEER_KEY_COLUMNS, set_=changes)


# dialect name -> the peer upsert statement, built once per supported dialect
_PEER_UPSERTS = {name: _build_peer_upsert(name) for name in ("sqlite", "postgresql")}


def _counts(db: Session, file_id: int, completed: int, now: datetime) -> Counts:
    seeders, leechers = db.connection().execute(_COUNTS, {"file_id": file_id, "now": now}).one()
    return Counts(seeders, leechers, completed)


@dataclass(frozen=True)
class FileRef:
    id: int
    group_id: str
    completed: int  # "completed" events seen


def _member_file(
    db: Session, info_hash: str, user_id: str, peer_id: str = ""
) -> tuple[FileRef, int | None]:
    """The file of an info-hash (hex) if the user is a member of its group, and the
    `left` of the user's peer `peer_id` in its swarm (None: not in it). NotFound if
    there is no such file or the user is not a member of its group."""
    params = {"info_hash": info_hash, "user_id": user_id, "peer_id": peer_id}
    row = db.connection().execute(_MEMBER_FILE, params).first()
    # Another group's torrent is answered as one that does not exist: the answer must
    # not tell a stranger that the info-hash is shared, nor in which group.
    if row is None or row[3] is None:
        raise NotFound("unknown torrent", code=ErrorCode.UNKNOWN_TORRENT)
    file_id, group_id, completed, _, peer_left = row
    return FileRef(file_id, group_id, completed), peer_left


def require_member_file(db: Session, info_hash: str, user_id: str) -> FileRef:
    """The file of an info-hash (hex), if the user is a member of its group."""
    return _member_file(db, info_hash, user_id)[0]


def announce(
    db: Session,
    user_id: str,
    ann: Announce,
    *,
    session_id: int | None,
    policy: SwarmPolicy,
    now: datetime,
) -> AnnounceResult:
    # Checked on every announce, so leaving a group stops announcing at once.
    shared, peer_left = _member_file(db, ann.info_hash, user_id, ann.peer_id)
    interval = policy.interval(ann)
    key = {"file_id": shared.id, "user_id": user_id, "peer_id": ann.peer_id}
    conn = db.connection()
    if ann.event == "stopped":
        conn.execute(_STOPPED, key)
        return AnnounceResult(interval, [], _counts(db, shared.id, shared.completed, now))
    row = key | {
        "session_id": session_id,
        "ip": normalize_ip(ann.ip),
        "port": ann.port,
        "left": ann.left,
        "uploaded": ann.uploaded,
        "downloaded": ann.downloaded,
        "last_seen": now,
        "expires_at": policy.expires_at(now, interval),
    }
    conn.execute(_PEER_UPSERTS[dialect_of(db)], row)
    completed = shared.completed
    if ann.event == "completed":
        completed = conn.execute(_COMPLETED, {"file_id": shared.id}).scalar_one()
    if becomes_sharer(ann.left, peer_left):
        add_sharer(db, shared.id, user_id, now=now)
        changes.record(db, changes.GroupChanged(shared.group_id))  # "shared by" on its page
    rows = conn.execute(_OTHER_PEERS, key | {"now": now, "numwant": policy.numwant(ann)}).all()
    peers = [PeerView(pid, ip, port, left == 0, uid) for pid, ip, port, left, uid in rows]
    return AnnounceResult(interval, peers, _counts(db, shared.id, completed, now))


def scrape(
    db: Session, user_id: str, info_hashes: Sequence[str] | None, *, now: datetime
) -> dict[str, Counts]:
    """Counts for the given torrents (all when None), limited to the user's groups."""
    query = select(SharedFile.id, SharedFile.info_hash, SharedFile.completed).join(
        Membership,
        (Membership.group_id == SharedFile.group_id) & (Membership.user_id == user_id),
    )
    if info_hashes is not None:
        query = query.where(SharedFile.info_hash.in_(info_hashes))
    return {
        info_hash: _counts(db, file_id, completed, now)
        for file_id, info_hash, completed in db.execute(query).all()
    }


def prune_expired(db: Session, *, now: datetime) -> int:
    result = cast("CursorResult[Any]", db.execute(delete(Peer).where(Peer.expires_at <= now)))
    return result.rowcount


# -- the swarm cache's statements (services/swarm_cache.py) ------------------------------------


@dataclass(frozen=True)
class LivePeer:
    user_id: str
    peer_id: str
    session_id: int | None
    ip: str
    port: int
    left: int
    expires_at: datetime


@dataclass(frozen=True)
class SwarmSnapshot:
    """A file's live swarm as the database has it, every tracker's peers included."""

    info_hash: str
    file: FileRef
    peers: list[LivePeer]


_FILE_BY_HASH = select(SharedFile.id, SharedFile.group_id, SharedFile.completed).where(
    SharedFile.info_hash == bindparam("info_hash")
)
_LIVE_PEERS = select(
    Peer.user_id, Peer.peer_id, Peer.session_id, Peer.ip, Peer.port, Peer.left, Peer.expires_at
).where(Peer.file_id == bindparam("file_id"), Peer.expires_at > bindparam("now"))
# A re-announce only moves a row's timers and counters. An UPDATE, never an insert: a row
# that a leave, logout or stop_share deleted meanwhile must stay deleted.
_TOUCH_COLUMNS = ("ip", "port", "left", "uploaded", "downloaded", "last_seen", "expires_at")
# Prefixed parameter names: SQLAlchemy reserves a column's own name in an UPDATE.
_TOUCH = (
    update(Peer)
    .where(*(getattr(Peer, name) == bindparam(f"key_{name}") for name in _PEER_KEY_COLUMNS))
    .values({name: bindparam(f"new_{name}") for name in _TOUCH_COLUMNS})
)


def load_swarm(db: Session, info_hash: str, *, now: datetime) -> SwarmSnapshot | None:
    """The file of an info-hash (hex) and its live peers; None if no such file."""
    conn = db.connection()
    row = conn.execute(_FILE_BY_HASH, {"info_hash": info_hash}).first()
    if row is None:
        return None
    file = FileRef(row[0], row[1], row[2])
    rows = conn.execute(_LIVE_PEERS, {"file_id": file.id, "now": now}).all()
    return SwarmSnapshot(info_hash, file, [LivePeer(*r) for r in rows])


def touch_peers(db: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write re-announces in one statement (executemany). Each row has the peer key
    (file_id, user_id, peer_id) and the columns of _TOUCH_COLUMNS."""
    if rows:
        params = [
            {f"key_{name}": row[name] for name in _PEER_KEY_COLUMNS}
            | {f"new_{name}": row[name] for name in _TOUCH_COLUMNS}
            for row in rows
        ]
        db.connection().execute(_TOUCH, params)
