"""Group commands: create, join, leave, requests, members, the activity log."""

from __future__ import annotations

from datetime import datetime

from minitorrent.client.commands.base import ClientBase
from minitorrent.client.figures import parse_time, when
from minitorrent.client.results import Done, Result, Table


class GroupCommands(ClientBase):
    """The commands about groups and memberships."""

    async def create_group(self, group_id: str) -> Result:
        self._require_login()
        await self.tracker.create_group(group_id)
        return Done(f"group '{group_id}' created; you are its admin")

    async def join_group(self, group_id: str) -> Result:
        self._require_login()
        await self.tracker.join_group(group_id)
        return Done(f"join request sent to the admin of '{group_id}'")

    async def leave_group(self, group_id: str) -> Result:
        session = self._require_login()
        if await self.tracker.leave_group(group_id) == "withdrawn":
            return Done(f"withdrew your request to join '{group_id}'")
        for share in session.state.shares():
            if share.group_id == group_id:
                await self.node.remove(bytes.fromhex(share.info_hash))
        session.state.remove_group_shares(group_id)
        return Done(f"left '{group_id}'")

    async def list_requests(self, group_id: str) -> Result:
        self._require_login()
        requests = await self.tracker.list_requests(group_id)
        return Table(
            ("user", "requested at"),
            [(r.user_id, _requested(r.requested_at)) for r in requests],
            empty="no pending requests",
        )

    async def accept_request(self, group_id: str, user_id: str) -> Result:
        self._require_login()
        await self.tracker.answer_request(group_id, user_id, accept=True)
        return Done(f"'{user_id}' is now a member of '{group_id}'")

    async def reject_request(self, group_id: str, user_id: str) -> Result:
        self._require_login()
        await self.tracker.answer_request(group_id, user_id, accept=False)
        return Done(f"rejected the request of '{user_id}' to join '{group_id}'")

    async def list_groups(self) -> Result:
        self._require_login()
        groups = await self.tracker.list_groups()
        rows = []
        for g in groups:
            mark = "*" if g.is_member else ("?" if g.pending else "")
            rows.append((mark, g.group_id, g.admin, str(g.members)))
        return Table(("", "group", "admin", "members"), rows, empty="no groups")

    async def list_members(self, group_id: str) -> Result:
        self._require_login()
        members = await self.tracker.list_members(group_id)
        rows = [(m.user_id, "admin" if m.is_admin else "") for m in members]
        return Table(("member", "role"), rows)

    async def group_log(self, group_id: str) -> Result:
        self._require_login()
        events = await self.tracker.group_log(group_id)
        # "2026-12-07T11:40:02.5Z" -> "2026-12-07 11:40:02" (UTC, like the tracker)
        rows = [(e.at[:19].replace("T", " "), e.text) for e in events]
        return Table(("when (UTC)", "what"), rows, empty="nothing logged")

    async def remove_member(self, group_id: str, user_id: str) -> Result:
        self._require_login()
        await self.tracker.remove_member(group_id, user_id)
        return Done(f"removed '{user_id}' from '{group_id}'")


def _requested(text: str) -> str:
    """A join request's time as a person reads it (``3 min ago``, or local time)."""
    moment = parse_time(text)
    return text if moment is None else when(moment, datetime.now().astimezone())
