"""The group page from memory: rendered once per group, page of files and kind of viewer
(admin or member), until the group changes.

Rendering a 1,000-file group took about 45 ms of CPU a page, and reading it 30 more;
under load every page queued behind ten others. So a group's files, members and
requests are read once (services/group_page.read_group) and each page of it rendered
once, with slots where the parts that differ per request go: the viewer's CSRF token
and user id, and the seeder / downloading / completed counts, which every announce moves
and are re-read at most every COUNTS_TTL seconds (the page's script shows them fresh a
few seconds later anyway). A slot is an HTML comment the template writes itself: an
escaped user string can never contain `<`, so it cannot fake one.

Whatever a page shows changes only through the services, which record GroupChanged
on the transaction (services/changes.py); after the commit `changed` drops that group's
pages and counts, and a read that began before it is not kept (TtlCache.generation).
With other trackers on the same database (PostgreSQL) their changes are not heard, so
a group is re-read after swarm_cache.REFRESH seconds, as the swarms are.

Access: a group's pages are served from memory only to a user among its members when
it was read; anyone else goes through the service's checks (404, 403) every time.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from minitorrent.tracker.dbwork import DatabaseWork
from minitorrent.tracker.services import group_page
from minitorrent.tracker.services.changes import Change, GroupChanged
from minitorrent.tracker.services.clock import Clock
from minitorrent.tracker.services.group_page import Counts, GroupData
from minitorrent.tracker.services.swarm_cache import REFRESH, SOLE_REFRESH
from minitorrent.tracker.ttl_cache import TtlCache
from minitorrent.tracker.web.render import render

PAGE_ROWS = 100  # files a page
COUNTS_TTL = 1.0  # seconds the counts of a group are reused
MAX_GROUPS = 64  # groups kept (each with its rendered pages)
_SLOT = re.compile(r"<!--slot:(csrf|user|count)-->")
SLOTS = {name: Markup(f"<!--slot:{name}-->") for name in ("csrf", "user", "count")}


@dataclass(frozen=True)
class Stitched:
    """HTML cut at its slots: parts[0], slot 0, parts[1], slot 1, ..."""

    parts: tuple[str, ...]
    slots: tuple[str, ...]

    @classmethod
    def of(cls, html: str) -> Stitched:
        pieces = _SLOT.split(html)
        return cls(tuple(pieces[0::2]), tuple(pieces[1::2]))

    def fill(self, values: dict[str, Iterator[str]]) -> str:
        """Each slot gets the next value of its name."""
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out.append(next(values[slot]))
            out.append(part)
        return "".join(out)


@dataclass(frozen=True)
class PageView:
    """One page of a group's files, rendered with slots."""

    html: Stitched
    info_hashes: tuple[str, ...]  # its files, in the order of their count slots

    def fill(self, *, csrf: str, user_id: str, counts: dict[str, Counts]) -> str:
        none = (0, 0, 0)  # a file shared since the counts were read
        numbers = (str(n) for ih in self.info_hashes for n in counts.get(ih, none))
        return self.html.fill(
            {
                "csrf": itertools.repeat(csrf),  # a hex token
                "user": itertools.repeat(str(escape(user_id))),
                "count": numbers,
            }
        )


@dataclass
class GroupSnapshot:
    group_id: str
    data: GroupData
    members: frozenset[str] = field(init=False)
    _pages: dict[tuple[int, bool], PageView] = field(default_factory=dict)
    _rendering: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.members = frozenset(m.user_id for m in self.data.members)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.data.files) // PAGE_ROWS))

    def rendered(self, page: int, admin: bool) -> PageView | None:
        return self._pages.get((page, admin))

    def render(self, page: int, admin: bool, live_every_ms: int) -> PageView:
        """Blocking (tens of milliseconds for a big group): page `page` (1 <= page <=
        pages) as the admin or a member sees it, rendered once."""
        with self._rendering:
            view = self._pages.get((page, admin))
            if view is None:
                view = self._pages[page, admin] = self._render(page, admin, live_every_ms)
            return view

    def _render(self, page: int, admin: bool, live_every_ms: int) -> PageView:
        data = self.data
        first = (page - 1) * PAGE_ROWS
        rows = data.files[first : first + PAGE_ROWS]
        html = render(
            "group.html",
            csrf=SLOTS["csrf"],
            user=SLOTS["user"],
            count=SLOTS["count"],
            group_id=self.group_id,
            files=rows,
            total=len(data.files),
            first=first + 1,
            last=first + len(rows),
            page=page,
            pages=self.pages,
            members=data.members,
            is_admin=admin,
            requests=data.requests if admin else [],
            live_every_ms=live_every_ms,
        )
        return PageView(Stitched.of(html), tuple(r.info_hash for r in rows))


@dataclass(frozen=True)
class _GroupCounts:
    group_id: str
    counts: dict[str, Counts]


class GroupPages:
    """The snapshots and counts of the groups lately shown, for one tracker."""

    def __init__(self, work: DatabaseWork, *, clock: Clock, monotonic: Callable[[], float]) -> None:
        self._work = work
        self._clock = clock
        ttl = REFRESH if work.database.is_shared else SOLE_REFRESH
        self._snapshots: TtlCache[str, GroupSnapshot] = TtlCache(
            ttl, monotonic=monotonic, max_entries=MAX_GROUPS
        )
        self._counts: TtlCache[str, _GroupCounts] = TtlCache(
            COUNTS_TTL, monotonic=monotonic, max_entries=MAX_GROUPS
        )
        work.database.on_commit(self.changed)

    def changed(self, recorded: list[Change]) -> None:
        """After a commit (db.Database.on_commit): forget the groups it changed."""
        groups = {c.group_id for c in recorded if isinstance(c, GroupChanged)}
        if groups:
            self._snapshots.forget(lambda snapshot: snapshot.group_id in groups)
            self._counts.forget(lambda entry: entry.group_id in groups)

    async def snapshot(self, user_id: str, group_id: str) -> GroupSnapshot:
        """The group as its pages show it, if `user_id` is a member (else the services'
        NotFound or Forbidden)."""
        snapshot = self._snapshots.get(group_id)
        if snapshot is not None and user_id in snapshot.members:
            return snapshot
        return await self._work.read(self._load, user_id, group_id)

    def _load(self, user_id: str, group_id: str) -> GroupSnapshot:
        since = self._snapshots.generation()
        with self._work.read_transaction() as db:
            snapshot = GroupSnapshot(group_id, group_page.read_group(db, user_id, group_id))
        self._snapshots.put(group_id, snapshot, since=since)
        return snapshot

    async def counts(self, user_id: str, snapshot: GroupSnapshot) -> dict[str, Counts]:
        """The group's live counts, at most COUNTS_TTL seconds old, for a user the
        snapshot (from `snapshot`) has among its members: taking it is the check."""
        group_id = snapshot.group_id
        if user_id not in snapshot.members:  # a snapshot of another's, not from `snapshot`
            raise ValueError(f"{user_id!r} is not among the members of the snapshot")
        entry = self._counts.get(group_id)
        if entry is None:
            entry = await self._work.read(self._load_counts, user_id, group_id)
        return entry.counts

    def _load_counts(self, user_id: str, group_id: str) -> _GroupCounts:
        since = self._counts.generation()
        with self._work.read_transaction() as db:
            counts = group_page.live_counts(db, user_id, group_id, now=self._clock())
        entry = _GroupCounts(group_id, counts)
        self._counts.put(group_id, entry, since=since)
        return entry
