"""The peer side of one client process: listening socket, swarms, announces (peer/announcer.py).

A node serves every file its user shares and runs downloads. It announces
each swarm to the tracker periodically, connects to the peers the tracker
returns, and routes incoming handshakes to the right swarm by info-hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from minitorrent.errors import MinitorrentError, StorageError
from minitorrent.metainfo import InfoDict
from minitorrent.peer.announcer import Announcer
from minitorrent.peer.connection import IDLE_TIMEOUT, PeerConnection
from minitorrent.peer.folder_storage import (
    Storage,
    create_storage,
    move_into_place,
    open_storage,
)
from minitorrent.peer.members import Members
from minitorrent.peer.swarm import STALL_TIMEOUT, State, Swarm
from minitorrent.peer.tracker_client import PeerAddress, TrackerClient
from minitorrent.peer.transfer import Transfer, TransferKind, drop_empty_part, unlink_quietly
from minitorrent.peer.vouch import POSITIVE_TTL, Vouchers
from minitorrent.selection import pieces_wanted

log = logging.getLogger(__name__)

MAX_INCOMING = 200
MAX_INCOMING_PER_IP = 32
CONNECT_TIMEOUT = 5.0
# A file being downloaded is flushed to disk in a background thread every FLUSH_EVERY
# verified bytes, so that the fdatasync that ends the download (it is durable before it
# is "complete") has little left to write: the kernel alone would keep up to a tenth of
# memory dirty and write it all then.
FLUSH_EVERY = 64 << 20


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
        self.announcer = Announcer(
            tracker=tracker,
            peer_id=peer_id,
            advertise=self.advertise,
            announce_interval=announce_interval,
            vouchers=self.vouchers,
            listed=self.listed,
            connect=self._connect,
            spawn=self._spawn,
        )

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

    async def seed(
        self,
        group_id: str,
        name: str,
        info: InfoDict,
        path: Path,
        *,
        hashed_as_of: os.stat_result | None = None,
        skip: frozenset[int] = frozenset(),
    ) -> Transfer:
        """Share a file; ``hashed_as_of`` is its stat when its pieces were last hashed;
        ``skip``: files of a folder downloaded in part (it shares the pieces it has)."""
        # A folder's files are opened one by one: thousands of them are disk work, not
        # the event loop's.
        storage = await asyncio.to_thread(open_storage, path, info, writable=False, skip=skip)
        wanted = pieces_wanted(info, skip)
        swarm = Swarm(
            info,
            storage,
            have=[wanted is None or i in wanted for i in range(info.num_pieces)],
            wanted=wanted,
            stall_timeout=self.stall_timeout,
            members=self.members,
        )
        if hashed_as_of is not None:
            swarm.trust_file(hashed_as_of.st_size, hashed_as_of.st_mtime_ns)
        transfer = Transfer(
            group_id, name, swarm, TransferKind.SEED, path, started_at=time.monotonic(), skip=skip
        )
        self._add(transfer)
        return transfer

    async def download(
        self,
        group_id: str,
        name: str,
        info: InfoDict,
        *,
        part_path: Path,
        destination: Path,
        have: list[bool],
        resume: bool,
        skip: frozenset[int] = frozenset(),
    ) -> Transfer:
        if resume:
            storage = await asyncio.to_thread(
                open_storage, part_path, info, writable=True, skip=skip
            )
        else:
            storage = await asyncio.to_thread(create_storage, part_path, info, skip=skip)
        try:
            storage.lock()  # another client process of the user may resume it too
        except StorageError:
            storage.close()
            if not resume:
                unlink_quietly(part_path)  # we just created it: nothing to keep
            raise
        transfer_ref: list[Transfer] = []
        swarm = Swarm(
            info,
            storage,
            have=have,
            wanted=pieces_wanted(info, skip),
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
            skip=skip,
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
        transfer.announce_task = asyncio.create_task(self.announcer.announce_loop(transfer))

    async def remove(self, info_hash: bytes) -> None:
        """Stop a transfer and tell the tracker (best effort)."""
        transfer = self.transfers.pop(info_hash, None)
        if transfer is None:
            return
        self._discard(transfer)
        await asyncio.to_thread(drop_empty_part, transfer)
        await self.announcer.announce_once(transfer, "stopped", quiet=True)

    def _discard(self, transfer: Transfer) -> None:
        if transfer.announce_task is not None:
            transfer.announce_task.cancel()
        transfer.swarm.stop()
        transfer.swarm.close_storage()
        if transfer.event is not None:
            transfer.event.set()

    def _mark_progress(self, transfer: Transfer) -> None:
        transfer.progress_dirty = True
        info = transfer.swarm.info
        if info.is_folder:  # flushing a folder walks all its files, under its lock
            return
        transfer.unflushed += info.piece_length
        if transfer.unflushed >= FLUSH_EVERY and not transfer.flushing:
            transfer.unflushed, transfer.flushing = 0, True
            self._spawn(self._flush_in_background(transfer))

    async def _flush_in_background(self, transfer: Transfer) -> None:
        try:
            await asyncio.to_thread(transfer.swarm.sync_storage)
        except StorageError as exc:  # the flush that ends the download reports it
            log.info("background flush of %s: %s", transfer.name, exc)
        finally:
            transfer.flushing = False

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
            *(self.announcer.announce_once(t, "stopped", quiet=True) for t in transfers),
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
            storage = await asyncio.to_thread(
                _move_and_reopen, transfer.path, transfer.destination, swarm.info, transfer.skip
            )
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
        await self.announcer.announce_once(transfer, "completed", quiet=True)
        self._ended(transfer)

    def _ended(self, transfer: Transfer) -> None:
        if transfer.event is not None:
            transfer.event.set()

    # -- announces and connections ---------------------------------------------------

    # -- which peers the tracker vouches for (peer/vouch.py) ---------------------------

    def vouched(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        return self.vouchers.vouched(info_hash, peer_id, ip)

    async def vouch(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        # No answer (tracker down) is a no for a new peer: serve members only.
        return await self.vouchers.check(info_hash, peer_id, ip) is True

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
            self._spawn(self.announcer.announce_once(transfer, "stopped", quiet=True))
            return
        self.tell_download_failed(transfer)
        self.on_download_failed(transfer)
        if transfer.announce_task is not None:
            transfer.announce_task.cancel()
        transfer.swarm.close_storage()  # and its lock: a later download_file may resume it
        self._spawn(self._end_failed_download(transfer))

    async def _end_failed_download(self, transfer: Transfer) -> None:
        await asyncio.to_thread(drop_empty_part, transfer)
        self._ended(transfer)


def _move_and_reopen(
    part: Path, destination: Path, info: InfoDict, skip: frozenset[int]
) -> Storage:
    """A finished download in its place, opened to be seeded (on a thread: disk work)."""
    move_into_place(part, destination)
    return open_storage(destination, info, writable=False, skip=skip)
