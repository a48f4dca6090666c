"""Announcing each transfer to the tracker: the periodic loop with its backoff, connecting
to the peers an announce lists, and re-checking connected peers it no longer lists."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

from minitorrent.error_codes import ErrorCode
from minitorrent.errors import MinitorrentError, TrackerRefused
from minitorrent.peer.link import PeerLink
from minitorrent.peer.swarm import State, Swarm
from minitorrent.peer.tracker_client import PeerAddress, TrackerClient
from minitorrent.peer.transfer import Transfer
from minitorrent.peer.vouch import Vouchers

log = logging.getLogger(__name__)

MAX_CONNECTIONS_PER_SWARM = 40
ANNOUNCE_RETRY_MIN = 1.0
STARVED_RETRY = 5.0
# Announces refused for good: the user is no longer in the file's group, or the file is
# gone from it (nobody shares it any more). Reasons shown to the user.
_NOT_IN_GROUP: dict[str, str] = {
    ErrorCode.NOT_MEMBER: "not a member of '{group}' any more",
    ErrorCode.UNKNOWN_TORRENT: "'{name}' is no longer shared in '{group}'",
}


class Announcer:
    """Announces transfers for one node (its peer id and advertised address)."""

    def __init__(
        self,
        *,
        tracker: TrackerClient,
        peer_id: bytes,
        advertise: tuple[str, int],
        announce_interval: int,
        vouchers: Vouchers,
        listed: dict[bytes, PeerAddress],
        connect: Callable[[Swarm, str, int, bytes], Coroutine[Any, Any, None]],
        spawn: Callable[[object], None],
    ) -> None:
        self.tracker = tracker
        self.peer_id = peer_id
        self.advertise = advertise
        self.announce_interval = announce_interval
        self.vouchers = vouchers
        self.listed = listed
        self._connect = connect
        self._spawn = spawn

    async def announce_loop(self, transfer: Transfer) -> None:
        event = "started"
        retry = ANNOUNCE_RETRY_MIN
        while True:
            ok = await self.announce_once(transfer, event, quiet=False)
            transfer.announced.set()
            if ok:
                event = ""
                retry = ANNOUNCE_RETRY_MIN
                delay = float(self.announce_interval)
                if transfer.swarm.state is State.DOWNLOADING and not transfer.swarm.peer_count():
                    # Stuck without a single connection (refused, or raced the
                    # tracker): ask again soon rather than a whole interval later.
                    delay = min(delay, STARVED_RETRY)
            else:
                # Tracker down: retry with backoff from 1 s up to the interval (so a
                # restarted tracker hears from us soon), with jitter (so not all clients
                # at once); peers already connected keep going meanwhile.
                delay = min(retry, float(self.announce_interval)) * random.uniform(0.5, 1.0)
                retry *= 2
            await asyncio.sleep(delay)

    async def announce_once(self, transfer: Transfer, event: str, *, quiet: bool) -> bool:
        swarm = transfer.swarm
        status = swarm.status()
        try:
            result = await self.tracker.announce(
                info_hash=swarm.info_hash,
                peer_id=self.peer_id,
                ip=self.advertise[0],
                port=self.advertise[1],
                uploaded=swarm.uploaded,
                downloaded=swarm.downloaded,
                left=status.length - status.bytes_done,
                event=event,
                interval=self.announce_interval,
            )
        except MinitorrentError as exc:
            if not quiet:
                log.info("announce of %s failed: %s", transfer.name, exc)
            if isinstance(exc, TrackerRefused) and event != "stopped":
                gone = _NOT_IN_GROUP.get(exc.code)
                if gone is not None:  # left or removed from the group: the share is over
                    swarm.fail(gone.format(name=transfer.name, group=transfer.group_id))
            return False
        self._trust(swarm, result.peers)
        if swarm.state is State.DOWNLOADING:
            connected = swarm.connected_peer_ids()
            for peer in result.peers:
                if swarm.peer_count() >= MAX_CONNECTIONS_PER_SWARM:
                    break
                if peer.peer_id in connected or swarm.is_banned(peer.peer_id, peer.ip):
                    continue
                if peer.peer_id == self.peer_id:
                    continue
                self._spawn(self._connect(swarm, peer.ip, peer.port, peer.peer_id))
        return True

    def _trust(self, swarm: Swarm, listed: list[PeerAddress]) -> None:
        """After an announce: the peers it listed are vouched for; every other connected
        peer is checked again, and dropped if the tracker now says no (it left)."""
        for peer in listed:
            self.vouchers.remember(swarm.info_hash, peer.peer_id, peer.ip)
            self.listed[peer.peer_id] = peer
        for conn in swarm.links():
            if not self.vouchers.vouched(swarm.info_hash, conn.peer_id, conn.address[0]):
                self._spawn(self._recheck(swarm, conn))

    async def _recheck(self, swarm: Swarm, conn: PeerLink) -> None:
        # None (no tracker answered) keeps the peer: known peers carry on without one.
        if await self.vouchers.check(swarm.info_hash, conn.peer_id, conn.address[0]) is False:
            conn.drop("the tracker no longer vouches for this peer")
