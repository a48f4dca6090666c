"""The peer side of one client process: listening socket, swarms, announces.

A node serves every file its user shares and runs downloads. It announces
each swarm to the tracker periodically, connects to the peers the tracker
returns, and routes incoming handshakes to the right swarm by info-hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from minitorrent.errors import MinitorrentError, StorageError, TrackerRefused
from minitorrent.metainfo import InfoDict
from minitorrent.peer.connection import IDLE_TIMEOUT, PeerConnection
from minitorrent.peer.folder_storage import create_storage, move_into_place, open_storage
from minitorrent.peer.link import PeerLink
from minitorrent.peer.members import Members
from minitorrent.peer.swarm import STALL_TIMEOUT, State, Swarm
from minitorrent.peer.tracker_client import PeerAddress, TrackerClient
from minitorrent.peer.vouch import POSITIVE_TTL, Vouchers

log = logging.getLogger(__name__)

MAX_CONNECTIONS_PER_SWARM = 40
MAX_INCOMING = 200
MAX_INCOMING_PER_IP = 32
CONNECT_TIMEOUT = 5.0
ANNOUNCE_RETRY_MIN = 1.0
STARVED_RETRY = 5.0
# Announces refused for good: the user is no longer in the file's group, or the file is
# gone from it (nobody shares it any more). Reasons shown to the user.
_NOT_IN_GROUP = {
    "not_member": "not a member of '{group}' any more",
    "unknown_torrent": "'{name}' is no longer shared in '{group}'",
}


class TransferKind(enum.Enum):
    DOWNLOAD = "download"
    SEED = "seed"  # a shared file, or a download that finished


@dataclass
class Transfer:
    """A swarm plus what the client needs to know about it."""

    group_id: str
    name: str
    swarm: Swarm
    kind: TransferKind
    path: Path  # the file served / being written
    destination: Path | None = None  # downloads: final path
    started_at: float = 0.0
    finished_at: float | None = None
    announce_task: asyncio.Task[None] | None = None
    event: asyncio.Event | None = None  # set when a download ends (done or failed)
    failure_reported: bool = False
    progress_dirty: bool = False  # pieces verified since resume data was last saved
    announced: asyncio.Event = field(default_factory=asyncio.Event)  # first announce tried

    @property
    def info_hash(self) -> bytes:
        return self.swarm.info_hash


class PeerNode:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        advertise: tuple[str, int] | None,
        tracker: TrackerClient,
        peer_id: bytes,
        announce_interval: int = 30,
        no_peer_timeout: float = 60.0,
        notify: Callable[[str], None] = lambda text: None,
        idle_timeout: float = IDLE_TIMEOUT,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self.host = host
        self.port = port
        self.advertise = advertise or (host, port)
        self.tracker = tracker
        self.peer_id = peer_id
        self.announce_interval = announce_interval
        self.no_peer_timeout = no_peer_timeout
        self.notify = notify
        self.idle_timeout = idle_timeout
        self.stall_timeout = stall_timeout
        # A yes lasts less than an announce interval: the re-check after each announce
        # ends the access of a member who left the group within one interval.
        self.vouchers = Vouchers(
            tracker.vouch, positive_ttl=min(POSITIVE_TTL, announce_interval / 2)
        )
        self.transfers: dict[bytes, Transfer] = {}
        self.on_download_done: Callable[[Transfer], None] = lambda t: None
        self.on_progress: Callable[[Transfer], None] = lambda t: None
        self.on_share_ended: Callable[[Transfer], None] = lambda t: None
        self.on_download_failed: Callable[[Transfer], None] = lambda t: None
        # How a failed download is told: a notice; the interactive shell prints an [F] line.
        self.tell_download_failed: Callable[[Transfer], None] = lambda t: self.notify(
            f"download of [{t.group_id}] {t.name} failed: {t.swarm.reason}"
        )
        self._server: asyncio.Server | None = None
        self._incoming: dict[str, int] = {}
        self._tick_task: asyncio.Task[None] | None = None
        self.listed: dict[bytes, PeerAddress] = {}  # peer id -> as a tracker last listed it
        self.members = Members(self.listed)  # who runs which peer id, for blame
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._incoming_connection, self.host, self.port, reuse_address=True
            )
        except OSError as exc:
            raise MinitorrentError(
                f"cannot listen for peers on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        self._tick_task = asyncio.create_task(self._tick_loop())

    async def close(self) -> None:
        await self.stop_all()
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def swarm_for(self, info_hash: bytes) -> Swarm | None:
        transfer = self.transfers.get(info_hash)
        if transfer is None or transfer.swarm.state in (State.FAILED, State.STOPPED):
            return None
        return transfer.swarm

    # -- adding and removing transfers ------------------------------------------------

    def seed(
        self,
        group_id: str,
        name: str,
        info: InfoDict,
        path: Path,
        *,
        hashed_as_of: os.stat_result | None = None,
    ) -> Transfer:
        """Share a file; ``hashed_as_of`` is its stat when its pieces were last hashed."""
        storage = open_storage(path, info, writable=False)
        swarm = Swarm(
            info,
            storage,
            have=[True] * info.num_pieces,
            stall_timeout=self.stall_timeout,
            members=self.members,
        )
        if hashed_as_of is not None:
            swarm.trust_file(hashed_as_of.st_size, hashed_as_of.st_mtime_ns)
        transfer = Transfer(
            group_id, name, swarm, TransferKind.SEED, path, started_at=time.monotonic()
        )
        self._add(transfer)
        return transfer

    def download(
        self,
        group_id: str,
        name: str,
        info: InfoDict,
        *,
        part_path: Path,
        destination: Path,
        have: list[bool],
        resume: bool,
    ) -> Transfer:
        if resume:
            storage = open_storage(part_path, info, writable=True)
        else:
            storage = create_storage(part_path, info)
        try:
            storage.lock()  # another client process of the user may resume it too
        except StorageError:
            storage.close()
            if not resume:
                _unlink_quietly(part_path)  # we just created it: nothing to keep
            raise
        transfer_ref: list[Transfer] = []
        swarm = Swarm(
            info,
            storage,
            have=have,
            on_piece_verified=lambda s: self._mark_progress(transfer_ref[0]),
            on_finished=lambda s: self._spawn(self._finish_download(transfer_ref[0])),
            stall_timeout=self.stall_timeout,
            members=self.members,
        )
        transfer = Transfer(
            group_id,
            name,
            swarm,
            TransferKind.DOWNLOAD,
            part_path,
            destination=destination,
            started_at=time.monotonic(),
            event=asyncio.Event(),
        )
        transfer_ref.append(transfer)
        self._add(transfer)
        if swarm.complete:
            self._spawn(self._finish_download(transfer))
        return transfer

    def _add(self, transfer: Transfer) -> None:
        old = self.transfers.get(transfer.info_hash)
        if old is not None:
            self._discard(old)
        self.transfers[transfer.info_hash] = transfer
        transfer.announce_task = asyncio.create_task(self._announce_loop(transfer))

    async def remove(self, info_hash: bytes) -> None:
        """Stop a transfer and tell the tracker (best effort)."""
        transfer = self.transfers.pop(info_hash, None)
        if transfer is None:
            return
        self._discard(transfer)
        await asyncio.to_thread(_drop_empty_part, transfer)
        await self._announce_once(transfer, "stopped", quiet=True)

    def _discard(self, transfer: Transfer) -> None:
        if transfer.announce_task is not None:
            transfer.announce_task.cancel()
        transfer.swarm.stop()
        transfer.swarm.close_storage()
        if transfer.event is not None:
            transfer.event.set()

    def _mark_progress(self, transfer: Transfer) -> None:
        transfer.progress_dirty = True

    def save_progress(self, transfer: Transfer) -> None:
        """Hand resume data to the client; at most once a second while downloading
        (a kill -9 loses at most that second, and resume re-checks those pieces)."""
        if transfer.progress_dirty:
            transfer.progress_dirty = False
            self.on_progress(transfer)

    async def stop_all(self) -> None:
        transfers = list(self.transfers.values())
        for transfer in transfers:
            self.save_progress(transfer)
            failed = transfer.kind is TransferKind.DOWNLOAD and transfer.swarm.failed
            if failed and not transfer.failure_reported:  # failed since the last tick
                transfer.failure_reported = True
                self.on_download_failed(transfer)
        self.transfers.clear()
        for transfer in transfers:
            self._discard(transfer)
        await asyncio.gather(
            *(self._announce_once(t, "stopped", quiet=True) for t in transfers),
            return_exceptions=True,
        )

    # -- downloads finishing ------------------------------------------------------------

    async def _finish_download(self, transfer: Transfer) -> None:
        swarm = transfer.swarm
        assert transfer.destination is not None
        try:
            # Every piece was verified against the info dictionary, which the info-hash
            # binds: the file is correct, no whole-file pass is needed.
            await asyncio.to_thread(swarm.sync_storage)
            move_into_place(transfer.path, transfer.destination)
            storage = open_storage(transfer.destination, swarm.info, writable=False)
        except (OSError, MinitorrentError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            swarm.fail(f"cannot complete the download: {reason}")
            self._ended(transfer)
            return
        swarm.become_seed(storage)
        transfer.kind = TransferKind.SEED
        transfer.path = transfer.destination
        transfer.finished_at = time.monotonic()
        self.on_download_done(transfer)
        # Tell the tracker first, so that when `wait` returns others can find this seed.
        await self._announce_once(transfer, "completed", quiet=True)
        self._ended(transfer)

    def _ended(self, transfer: Transfer) -> None:
        if transfer.event is not None:
            transfer.event.set()

    # -- announces and connections ---------------------------------------------------

    async def _announce_loop(self, transfer: Transfer) -> None:
        event = "started"
        retry = ANNOUNCE_RETRY_MIN
        while True:
            ok = await self._announce_once(transfer, event, quiet=False)
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

    async def _announce_once(self, transfer: Transfer, event: str, *, quiet: bool) -> bool:
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

    # -- which peers the tracker vouches for (peer/vouch.py) ---------------------------

    def vouched(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        return self.vouchers.vouched(info_hash, peer_id, ip)

    async def vouch(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        # No answer (tracker down) is a no for a new peer: serve members only.
        return await self.vouchers.check(info_hash, peer_id, ip) is True

    def _trust(self, swarm: Swarm, listed: list[PeerAddress]) -> None:
        """After an announce: the peers it listed are vouched for; every other connected
        peer is checked again, and dropped if the tracker now says no (it left)."""
        for peer in listed:
            self.vouchers.remember(swarm.info_hash, peer.peer_id, peer.ip)
            self.listed[peer.peer_id] = peer
        for conn in swarm.links():
            if not self.vouched(swarm.info_hash, conn.peer_id, conn.address[0]):
                self._spawn(self._recheck(swarm, conn))

    async def _recheck(self, swarm: Swarm, conn: PeerLink) -> None:
        # None (no tracker answered) keeps the peer: known peers carry on without one.
        if await self.vouchers.check(swarm.info_hash, conn.peer_id, conn.address[0]) is False:
            conn.drop("the tracker no longer vouches for this peer")

    async def _connect(self, swarm: Swarm, ip: str, port: int, peer_id: bytes) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: PeerConnection(
                        self, swarm=swarm, expected_peer_id=peer_id, idle_timeout=self.idle_timeout
                    ),
                    ip,
                    port,
                ),
                CONNECT_TIMEOUT,
            )

    def _incoming_connection(self) -> PeerConnection:
        return PeerConnection(
            self,
            on_close=self._incoming_closed,
            on_open=self._incoming_opened,
            idle_timeout=self.idle_timeout,
        )

    def _incoming_opened(self, conn: PeerConnection) -> bool:
        ip = conn.address[0]
        total = sum(self._incoming.values())
        if total >= MAX_INCOMING or self._incoming.get(ip, 0) >= MAX_INCOMING_PER_IP:
            return False
        self._incoming[ip] = self._incoming.get(ip, 0) + 1
        return True

    def _incoming_closed(self, conn: PeerConnection) -> None:
        ip = conn.address[0]
        if ip in self._incoming:
            self._incoming[ip] -= 1
            if self._incoming[ip] <= 0:
                del self._incoming[ip]

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for transfer in list(self.transfers.values()):
                self._tick(transfer, time.monotonic())

    def _tick(self, transfer: Transfer, now: float) -> None:
        swarm = transfer.swarm
        if swarm.state is State.STOPPED:
            return
        if not swarm.failed:
            try:
                swarm.tick()
            except StorageError as exc:
                swarm.fail(str(exc))
            if (
                swarm.state is State.DOWNLOADING
                and not swarm.has_useful_peer()
                and now - swarm.last_progress > self.no_peer_timeout
            ):
                missing = swarm.missing_pieces()
                swarm.fail(
                    f"no peer has the missing pieces ({missing} of {swarm.info.num_pieces} "
                    f"missing) for {int(self.no_peer_timeout)} s"
                )
        self.save_progress(transfer)
        if swarm.failed and not transfer.failure_reported:
            transfer.failure_reported = True
            self._report_failure(transfer)

    def _report_failure(self, transfer: Transfer) -> None:
        """A failed seed stops being shared; a failed download shows as [F]."""
        reason = transfer.swarm.reason
        if transfer.kind is TransferKind.SEED:
            self.notify(f"stopped sharing [{transfer.group_id}] {transfer.name}: {reason}")
            self.on_share_ended(transfer)
            self.transfers.pop(transfer.info_hash, None)
            self._discard(transfer)
            self._spawn(self._announce_once(transfer, "stopped", quiet=True))
            return
        self.tell_download_failed(transfer)
        self.on_download_failed(transfer)
        if transfer.announce_task is not None:
            transfer.announce_task.cancel()
        transfer.swarm.close_storage()  # and its lock: a later download_file may resume it
        self._spawn(self._end_failed_download(transfer))

    async def _end_failed_download(self, transfer: Transfer) -> None:
        await asyncio.to_thread(_drop_empty_part, transfer)
        self._ended(transfer)


def _drop_empty_part(transfer: Transfer) -> None:
    """A download that ended (failed or cancelled) before a single piece was verified
    leaves nothing behind: there is nothing worth resuming in its .part."""
    if transfer.kind is TransferKind.DOWNLOAD and transfer.swarm.status().have == 0:
        if transfer.swarm.info.is_folder:
            _remove_part_folder(transfer.path)
        else:
            _unlink_quietly(transfer.path)


def _remove_part_folder(path: Path) -> None:
    """Remove a .part folder of ours (rmtree does not follow links inside it)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
    except OSError as exc:  # best effort, as for a file
        log.info("cannot remove %s: %s", path, exc.strerror)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # best effort: the download's own outcome stands
        log.info("cannot remove %s: %s", path, exc.strerror)
