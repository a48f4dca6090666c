"""The announce registry: every announce, JSON or BitTorrent, is answered here.

It owns the swarm snapshots and the write-behind queue (services/swarm_cache.py), the
database fallback for what memory cannot answer (swarm.announce), and hears what
committed transactions ended (services/changes.py), so no route has to remember to
tell it. The rules (interval, expiry, numwant, a new seed becoming a sharer) are
swarm.SwarmPolicy's and swarm.becomes_sharer's. The routes are thin adapters: they
turn a request into a swarm.Announce and the result into their format (api/swarm.py
and api/shortcut.py JSON, tracker/announce.py bencoded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from minitorrent.tracker.dbwork import DatabaseWork
from minitorrent.tracker.services import swarm
from minitorrent.tracker.services.changes import Change, SessionsEnded, SharesEnded
from minitorrent.tracker.services.swarm_cache import SwarmCache

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]  # runs a coroutine in the background


class AnnounceRegistry:
    def __init__(self, work: DatabaseWork, swarms: SwarmCache, *, spawn: Spawn) -> None:
        self._work = work
        self.swarms = swarms
        self._spawn = spawn
        work.database.on_commit(self.changed)

    async def announce(
        self, user_id: str, ann: swarm.Announce, session_id: int | None
    ) -> swarm.AnnounceResult:
        """From memory when it can, else one trip to the database. Raises the domain
        errors of swarm.announce (unknown torrent, ...)."""
        result = self.from_memory(user_id, ann, session_id)
        if result is None:
            result = await self._work.run(self._announce_in_db, user_id, ann, session_id)
        return result

    def from_memory(
        self, user_id: str, ann: swarm.Announce, session_id: int | None
    ) -> swarm.AnnounceResult | None:
        """The answer without waiting, or None: then `announce` asks the database. A
        snapshot past its refresh time still answers while it is re-read."""
        result, refresh_due = self.swarms.answer_claiming(user_id, ann, session_id)
        if refresh_due:
            self._spawn(self._refresh(ann.info_hash))
        return result

    def _announce_in_db(
        self, user_id: str, ann: swarm.Announce, session_id: int | None
    ) -> swarm.AnnounceResult:
        # Another request may have reloaded the swarm while this one waited for the slot.
        answer = self.swarms.answer(user_id, ann, session_id)
        return answer or self.swarms.announce_in_db(user_id, ann, session_id)

    async def _refresh(self, info_hash: str) -> None:
        try:
            await self._work.read(self.swarms.refresh, info_hash)
        except SQLAlchemyError:
            log.warning("re-reading a swarm failed; will retry", exc_info=True)

    async def flush(self) -> None:
        """Write the re-announces answered from memory (the write-behind queue)."""
        await self._work.run(self.swarms.flush)

    def changed(self, recorded: list[Change]) -> None:
        """After a commit (db.Database.on_commit): forget the peers it ended."""
        for change in recorded:
            if isinstance(change, SharesEnded):
                self.swarms.forget_shares(change.user_id, change.file_ids, change.files_gone)
            elif isinstance(change, SessionsEnded):
                self.swarms.forget_users(change.user_ids)
