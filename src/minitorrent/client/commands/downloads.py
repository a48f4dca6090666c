"""Download commands: start, cancel, show, wait; the per-peer counters."""

from __future__ import annotations

import asyncio

from minitorrent.client import only
from minitorrent.client.commands.base import ClientBase, percent
from minitorrent.client.destination import check_own_part, may_be_part_of, resolve_destination
from minitorrent.client.figures import Speedometer, eta, plural
from minitorrent.client.results import Done, Result
from minitorrent.client.resume import recheck
from minitorrent.client.state import DownloadRecord
from minitorrent.errors import MetainfoError, MinitorrentError, StorageError
from minitorrent.file_list import FolderLimits, check_limits
from minitorrent.metainfo import InfoDict
from minitorrent.names import safe_file_name
from minitorrent.peer.storage import locked_elsewhere
from minitorrent.peer.swarm import State
from minitorrent.peer.transfer import Transfer, TransferKind
from minitorrent.selection import encode_patterns
from minitorrent.units import human_size


class DownloadCommands(ClientBase):
    """The commands about downloads."""

    async def download_file(
        self, group_id: str, file_name: str, destination: str, *options: str
    ) -> Result:
        session = self._require_login()
        patterns = only.parse_only(options)  # before asking the tracker anything
        raw_info = await self.tracker.file_info(group_id, file_name)
        info = InfoDict.decode(raw_info)  # every path of a folder checked again here
        name = safe_file_name(info.name)
        if info.source != group_id:
            raise MetainfoError("the tracker sent metadata of another group")
        check_limits(info.name, info.files, FolderLimits())
        selection = only.choose(info, patterns)
        skip = only.skipped(selection)
        running = self.node.transfers.get(info.info_hash)
        if running is not None:
            if running.kind is TransferKind.DOWNLOAD and running.swarm.state in (
                State.DOWNLOADING,
                State.CHECKING,
            ):
                raise MinitorrentError(f"'{file_name}' is already being downloaded")
            if running.kind is TransferKind.SEED:
                raise MinitorrentError(f"you already have '{file_name}' ({running.path})")
        record = session.state.download(info.info_hash_hex)
        if record is not None and locked_elsewhere(record.part_path):
            raise MinitorrentError(
                f"'{file_name}' is already being downloaded by another client process "
                f"of '{session.user_id}'"
            )
        target = resolve_destination(destination, name)
        part = target.with_name(target.name + ".part")
        resume = record is not None and record.part_path == str(part) and part.exists()
        if resume and record is not None and only.skipped(only.stored(info, record.only)) != skip:
            raise MinitorrentError(
                f"'{file_name}' was started with another file selection; give the same "
                f"--only patterns to resume it ({only.shown(record.only)})"
            )
        adopted = part.exists() and not resume
        if adopted:
            # A .part without resume data (the state file was lost or damaged): if it can
            # be this file's, keep the pieces that pass their hash check; fetch the rest.
            if not may_be_part_of(part, info):
                raise MinitorrentError(f"{part} already exists (remove it or choose another place)")
            if locked_elsewhere(part):
                raise MinitorrentError(f"{part} is being written by another client process")
            resume = True
        have = [False] * info.num_pieces
        if resume:
            check_own_part(part, info)  # never finish a .part another user planted
            saved = record.have if record is not None and not adopted else b""
            have = await asyncio.to_thread(recheck, part, info, saved, skip)
        session.state.put_download(
            DownloadRecord(
                info.info_hash_hex,
                group_id,
                name,
                str(target),
                str(part),
                raw_info,
                bytes(have),
                only=encode_patterns(patterns),
            )
        )
        try:
            transfer = await self.node.download(
                group_id,
                name,
                info,
                part_path=part,
                destination=target,
                have=have,
                resume=resume,
                skip=skip,
            )
        except (OSError, StorageError) as exc:
            session.state.remove_download(info.info_hash_hex)
            raise MinitorrentError(f"cannot create {part}: {exc}") from None
        session.downloads.pop(info.info_hash, None)
        session.downloads[info.info_hash] = transfer
        verb = "resuming" if resume else "downloading"
        done = f" ({sum(have)} of {info.num_pieces} pieces found good in {part.name})"
        chosen = only.part_note(info, skip)
        return Done(
            f"{verb} '{name}' from '{group_id}' to {target}" + (done if adopted else "") + chosen
        )

    async def cancel_download(self, group_id: str, file_name: str) -> Result:
        session = self._require_login()
        for transfer in session.downloads.values():
            if (
                transfer.group_id == group_id
                and transfer.name == file_name
                and transfer.kind is TransferKind.DOWNLOAD
                and transfer.swarm.state is State.DOWNLOADING
            ):
                self._save_progress(transfer)
                await self.node.remove(transfer.info_hash)
                transfer.swarm.reason = "cancelled"
                session.state.stop_download(transfer.swarm.info.info_hash_hex, "cancelled")
                return Done(
                    f"cancelled '{file_name}' (verified pieces kept for a later download_file)"
                )
        raise MinitorrentError(f"no download of '{file_name}' from '{group_id}' in progress")

    async def show_downloads(self) -> Result:
        session = self._require_login()
        lines = []
        for t in session.downloads.values():
            st = t.swarm.status()
            if t.kind is TransferKind.SEED:
                lines.append(f"[C] [{t.group_id}] {t.name}" + only.part_note(t.swarm.info, t.skip))
            elif st.state is State.FAILED or st.state is State.STOPPED:
                lines.append(f"[F] [{t.group_id}] {t.name}: {st.reason or 'stopped'}")
            else:
                lines.append(self.download_line(t))
        # Stopped for good in an earlier session: shown until download_file again.
        shown = {info_hash.hex() for info_hash in session.downloads}
        for record in session.state.downloads():
            if record.stopped is not None and record.info_hash not in shown:
                lines.append(f"[F] [{record.group_id}] {record.name}: {record.stopped}")
        return [Done(line) for line in lines] or Done("no downloads")

    def download_line(self, t: Transfer) -> str:
        """A running download as show_downloads (and the interactive toolbar) shows it."""
        st = t.swarm.status()
        speed = self.speeds.setdefault(t.info_hash, Speedometer()).rate(st.downloaded)
        left = eta(st.length - st.bytes_done, speed)
        return (
            f"[D] [{t.group_id}] {t.name} {percent(st.bytes_done, st.length)} "
            f"{human_size(speed)}/s {plural(st.peers, 'peer')}"
            + (f" ETA {left}" if left else "")
            + only.part_note(t.swarm.info, t.skip)
        )

    async def wait(self) -> Result:
        session = self._require_login()
        pending = [t for t in session.downloads.values() if t.event is not None]
        await asyncio.gather(*(t.event.wait() for t in pending if t.event is not None))
        failed = [t for t in pending if t.kind is TransferKind.DOWNLOAD]
        if failed:
            reasons = "; ".join(f"{t.name}: {t.swarm.reason or 'stopped'}" for t in failed)
            raise MinitorrentError(f"{len(failed)} download(s) failed: {reasons}")
        return Done(
            f"{len(pending)} download(s) complete" if pending else "no downloads in progress"
        )

    def peer_counters(self) -> list[str]:
        """Per-peer byte counters of every transfer, peers gone since included (for tests
        and curious users): ``[group] name <peer id> <user>@<ip:port> down=N up=N
        [disconnected|banned]``; ``?`` for a peer no tracker has listed to us."""
        lines = []
        for t in self.node.transfers.values():
            for peer_id, c in sorted(t.swarm.peer_counters().items()):
                mark = " banned" if c.banned else "" if c.connected else " disconnected"
                lines.append(
                    f"[{t.group_id}] {t.name} {peer_id.hex()} {self._whose(peer_id)} "
                    f"down={c.downloaded} up={c.uploaded}{mark}"
                )
        return lines

    def _whose(self, peer_id: bytes) -> str:
        """``bob@127.0.0.1:6881``: the user and listening address the tracker gave."""
        peer = self.node.listed.get(peer_id)
        if peer is None:
            return "?"
        host = f"[{peer.ip}]" if ":" in peer.ip else peer.ip
        return f"{peer.user_id or '?'}@{host}:{peer.port}"
