"""Account commands: sign-up, login (and carrying on, client/resume.py), logout,
the session kept alive and ended; the passkey and the trackers."""

from __future__ import annotations

import asyncio
import logging

from minitorrent.client.commands.base import ClientBase
from minitorrent.client.figures import duration
from minitorrent.client.results import Done, Line, Notice, Result, Table
from minitorrent.client.resume import resume_downloads, share_again
from minitorrent.client.session import Session
from minitorrent.client.state import StateUnusable, open_user_state
from minitorrent.error_codes import ErrorCode
from minitorrent.errors import MinitorrentError, TrackerRefused
from minitorrent.peer.tracker_client import Standing
from minitorrent.peer.transfer import TransferKind

log = logging.getLogger(__name__)


class AccountCommands(ClientBase):
    """The commands about the user and its login session."""

    async def create_user(self, user_id: str, password: str) -> Result:
        await self.tracker.create_user(user_id, password)
        return Done(f"user '{user_id}' created")

    async def login(self, user_id: str, password: str) -> Result:
        if self.session is not None:
            raise MinitorrentError(f"already logged in as '{self.session.user_id}' (logout first)")
        answer = await self.tracker.login(user_id, password)
        self.tracker.token = answer.token
        try:
            state = await asyncio.to_thread(open_user_state, self.state_dir, user_id)
        except StateUnusable as exc:
            await self._abandon_tracker_session()
            raise MinitorrentError(f"{exc}; logged out again (move it away and log in)") from None
        self.session = Session(user_id, answer.token, answer.passkey, state)
        self.session.tracker = self.tracker.last_answered
        self.session.shared_database = answer.shared_database
        self.session.keepalive = asyncio.create_task(self._keep_alive(answer.idle_ttl))
        lines: list[Line] = [Done(f"logged in as '{user_id}'")]
        damaged = state.damage_notice()
        if damaged is not None:
            lines.append(Notice(damaged))
        lines += await share_again(state, self.tracker, self.node)
        lines += await resume_downloads(state, self.session.downloads, self.node)
        return lines

    async def logout(self) -> Result:
        session = self._require_login()
        await self._end_session(session)
        return Done(f"logged out '{session.user_id}'")

    async def _abandon_tracker_session(self) -> None:
        """A login the client cannot carry on with: end its session on the tracker."""
        try:
            await self.tracker.logout()
        except MinitorrentError as exc:
            log.info("logout after a failed login failed: %s", exc)
        finally:
            self.tracker.token = None

    async def _keep_alive(self, idle_ttl: float) -> None:
        """Use the session now and then, so that it does not expire while we run."""
        while True:
            await asyncio.sleep(max(idle_ttl / 3, 0.5))
            try:
                await self.tracker.me()
            except MinitorrentError as exc:
                log.info("session keep-alive failed: %s", exc)

    async def _end_session(self, session: Session, *, tell_tracker: bool = True) -> None:
        if session.keepalive is not None:
            session.keepalive.cancel()
        # Keep what this process uploaded in each share's total (list_shares).
        for transfer in self.node.transfers.values():
            if transfer.kind is TransferKind.SEED:
                session.state.add_uploaded(transfer.info_hash.hex(), transfer.swarm.uploaded)
        await self.node.stop_all()
        try:
            if tell_tracker:
                await self.tracker.logout()
        except TrackerRefused as exc:
            if exc.code != ErrorCode.NOT_LOGGED_IN:  # else it has ended on the tracker already
                raise
        finally:
            self.tracker.token = None
            self.session = None
            session.state.close()

    def why_session_unknown(self) -> str:
        """Why the tracker that answered last does not know our session: a tracker on
        its own SQLite database cannot know one opened on another; otherwise it ended."""
        session, asked = self.session, self.tracker.last_answered
        opened = None if session is None or session.shared_database else session.tracker
        if opened is None or asked is None or opened == asked:
            return "the tracker ended your session (expired or revoked); log in again"
        return (
            f"tracker {self.tracker.trackers[asked]} does not know this session: it does "
            f"not share a database with {self.tracker.trackers[opened]}; log in again"
        )

    async def session_lost(self) -> None:
        """The tracker no longer knows our session (expired, revoked): end it here too."""
        if self.session is not None:
            await self._end_session(self.session, tell_tracker=False)

    async def shutdown(self) -> None:
        """End of input, quit or a signal: log out, quietly."""
        if self.session is not None:
            try:
                await self._end_session(self.session)
            except MinitorrentError as exc:
                log.info("logout at exit failed: %s", exc)

    async def rotate_passkey(self) -> Result:
        session = self._require_login()
        session.passkey = await self.tracker.rotate_passkey()
        return Done("passkey rotated; links and .torrent files made before stop working")

    async def trackers(self) -> Result:
        """The trackers in the file's order; `*` marks the one that answered last."""
        rows = []
        for index, standing in enumerate(self.tracker.standing()):
            mark = "*" if index == self.tracker.last_answered else ""
            rows.append((mark, str(self.tracker.trackers[index]), _tracker_state(standing)))
        return Table(("", "tracker", "state"), rows)


def _tracker_state(standing: Standing) -> str:
    if standing.failed and standing.retry_in > 0:
        return f"failed, retrying in {duration(standing.retry_in)}"
    if standing.failed:
        return "failed, retrying at the next request"
    return "ok" if standing.answered else "not contacted yet"
