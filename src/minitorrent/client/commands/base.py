"""What every command shares: the tracker client, the peer node, the login session,
and the state file kept in step with the node's transfers as they progress and end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from minitorrent.client.figures import Speedometer
from minitorrent.client.hashing import Hashing
from minitorrent.client.session import Session
from minitorrent.client.state import ShareRecord
from minitorrent.errors import MinitorrentError, UsageError
from minitorrent.peer.node import PeerNode
from minitorrent.peer.tracker_client import TrackerClient
from minitorrent.peer.transfer import Transfer

log = logging.getLogger(__name__)


def percent(done: int, total: int) -> str:
    if total <= 0 or done >= total:
        return "100%"
    value = 100.0 * done / total
    return f"{value:.1f}%"


class ClientBase:
    """The state of one client process (one person's session) that commands share."""

    def __init__(
        self,
        *,
        tracker: TrackerClient,
        node: PeerNode,
        state_dir: Path,
        notify: Callable[[str], None],
    ) -> None:
        self.tracker = tracker
        self.node = node
        self.state_dir = state_dir
        self.notify = notify
        self.session: Session | None = None
        self.hashing = Hashing()  # upload_file's progress, for the interactive shell
        self.speeds: dict[bytes, Speedometer] = {}  # per download: bytes received lately
        self._withdrawals: set[asyncio.Task[None]] = set()  # stop_share of ended seeds
        node.on_progress = self._save_progress
        node.on_download_done = self._download_done
        node.on_download_failed = self._download_failed
        node.on_share_ended = self._share_ended

    # -- helpers -------------------------------------------------------------

    def _require_login(self) -> Session:
        if self.session is None:
            raise MinitorrentError("not logged in (use: login <user_id> <password>)")
        return self.session

    # -- background ------------------------------------------------------------------

    def _save_progress(self, transfer: Transfer) -> None:
        self.speeds.setdefault(transfer.info_hash, Speedometer()).sample(transfer.swarm.downloaded)
        if self.session is not None:
            have = transfer.swarm.have_bits()
            self.session.state.save_progress(transfer.swarm.info.info_hash_hex, have)

    def _download_done(self, transfer: Transfer) -> None:
        session = self.session
        if session is None or transfer.destination is None:
            return
        info = transfer.swarm.info
        # A folder's record says 0: re-checked once at the next login (scanning it here
        # would block the event loop).
        st = transfer.destination.stat()
        size, mtime_ns = (info.length, 0) if info.is_folder else (st.st_size, st.st_mtime_ns)
        record = session.state.download(info.info_hash_hex)
        session.state.put_share(
            ShareRecord(
                info.info_hash_hex,
                transfer.group_id,
                transfer.name,
                str(transfer.destination),
                size,
                mtime_ns,
                info.encode(),
                only=record.only if record is not None else None,  # re-shared as it is
            )
        )
        session.state.remove_download(info.info_hash_hex)

    def _download_failed(self, transfer: Transfer) -> None:
        """A failed download stays stopped (not resumed at login) until download_file."""
        if self.session is not None:
            reason = transfer.swarm.reason or "failed"
            self.session.state.stop_download(transfer.swarm.info.info_hash_hex, reason)

    def _share_ended(self, transfer: Transfer) -> None:
        """The node stopped a seed for good (group left, file changed): forget it, and
        withdraw the share at the tracker so that list_files no longer counts us."""
        if self.session is not None:
            self.session.state.remove_share(transfer.info_hash.hex())
            task = asyncio.create_task(self._withdraw(transfer.group_id, transfer.name))
            self._withdrawals.add(task)
            task.add_done_callback(self._withdrawals.discard)

    async def _withdraw(self, group_id: str, name: str) -> None:
        try:
            await self.tracker.stop_share(group_id, name)
        except MinitorrentError as exc:  # left the group, file gone: nothing to withdraw
            log.info("withdrawing [%s] %s at the tracker failed: %s", group_id, name, exc)


def usage_error(usage: str) -> UsageError:
    return UsageError(f"wrong number of arguments; usage: {usage}")
