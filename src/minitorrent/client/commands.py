"""One method per shell command: checks arguments, talks to the tracker and the
peer node, returns data to render, raises MinitorrentError to refuse."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from minitorrent.client.destination import check_own_part, may_be_part_of, resolve_destination
from minitorrent.client.figures import Speedometer, duration, eta, parse_time, plural, when
from minitorrent.client.hashing import Hashing
from minitorrent.client.results import Done, Line, Notice, Result, Table
from minitorrent.client.resume import recheck, resume_downloads, share_again
from minitorrent.client.session import Session
from minitorrent.client.state import DownloadRecord, ShareRecord, StateUnusable, open_user_state
from minitorrent.errors import (
    MetainfoError,
    MinitorrentError,
    StorageError,
    TrackerRefused,
    UsageError,
)
from minitorrent.file_list import FolderLimits, check_limits
from minitorrent.metainfo import (
    InfoDict,
    magnet_link,
    private_announce_urls,
    private_torrent,
    safe_file_name,
)
from minitorrent.peer.node import PeerNode, Transfer, TransferKind
from minitorrent.peer.storage import locked_elsewhere
from minitorrent.peer.swarm import State
from minitorrent.peer.tracker_client import Standing, TrackerClient
from minitorrent.units import human_size

log = logging.getLogger(__name__)


def percent(done: int, total: int) -> str:
    if total <= 0 or done >= total:
        return "100%"
    value = 100.0 * done / total
    return f"{value:.1f}%"


class Client:
    """The commands of one client process (one person's session)."""

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

    # -- accounts ----------------------------------------------------------------

    async def create_user(self, user_id: str, password: str) -> Result:
        await self.tracker.create_user(user_id, password)
        return Done(f"user '{user_id}' created")

    async def login(self, user_id: str, password: str) -> Result:
        if self.session is not None:
            raise MinitorrentError(f"already logged in as '{self.session.user_id}' (logout first)")
        body = await self.tracker.login(user_id, password)
        self.tracker.token = body["token"]
        try:
            state = await asyncio.to_thread(open_user_state, self.state_dir, user_id)
        except StateUnusable as exc:
            await self._abandon_tracker_session()
            raise MinitorrentError(f"{exc}; logged out again (move it away and log in)") from None
        self.session = Session(user_id, body["token"], body.get("passkey", ""), state)
        self.session.tracker = self.tracker.last_answered
        self.session.shared_database = bool(body.get("shared_database", True))
        idle_ttl = float(body.get("idle_ttl", 3600))
        self.session.keepalive = asyncio.create_task(self._keep_alive(idle_ttl))
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
            if exc.code != "not_logged_in":  # else it has ended on the tracker already
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

    # -- groups ----------------------------------------------------------------------

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
            [(r["user_id"], _requested(r["requested_at"])) for r in requests],
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
            mark = "*" if g.get("is_member") else ("?" if g.get("pending") else "")
            rows.append((mark, g["group_id"], g["admin"], str(g["members"])))
        return Table(("", "group", "admin", "members"), rows, empty="no groups")

    async def list_members(self, group_id: str) -> Result:
        self._require_login()
        members = await self.tracker.list_members(group_id)
        rows = [(m["user_id"], "admin" if m.get("is_admin") else "") for m in members]
        return Table(("member", "role"), rows)

    async def group_log(self, group_id: str) -> Result:
        self._require_login()
        events = await self.tracker.group_log(group_id)
        # "2026-12-07T11:40:02.5Z" -> "2026-12-07 11:40:02" (UTC, like the tracker)
        rows = [(e["at"][:19].replace("T", " "), e["text"]) for e in events]
        return Table(("when (UTC)", "what"), rows, empty="nothing logged")

    async def remove_member(self, group_id: str, user_id: str) -> Result:
        self._require_login()
        await self.tracker.remove_member(group_id, user_id)
        return Done(f"removed '{user_id}' from '{group_id}'")

    async def rotate_passkey(self) -> Result:
        session = self._require_login()
        body = await self.tracker.rotate_passkey()
        session.passkey = body["passkey"]
        return Done("passkey rotated; links and .torrent files made before stop working")

    # -- files -------------------------------------------------------------------------

    async def upload_file(self, file_path: str, group_id: str) -> Result:
        session = self._require_login()
        path = Path(file_path).expanduser().absolute()
        name = safe_file_name(path.name)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise MinitorrentError(f"no such file: {file_path}") from None
        except OSError as exc:
            raise MinitorrentError(f"cannot read {file_path}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            return await self._upload_folder(session, path, name, group_id)
        if not stat.S_ISREG(st.st_mode):
            raise MinitorrentError(f"{file_path} is not a regular file")
        if not os.access(path, os.R_OK):
            raise MinitorrentError(f"cannot read {file_path}: permission denied")
        info, sha1 = await self.hashing.build_info(path, name, group_id, st.st_size)
        await self._share(session, info, path, sha1, st.st_mtime_ns, hashed_as_of=st)
        return Done(f"sharing '{name}' in '{group_id}' ({human_size(info.length)}, sha1 {sha1})")

    async def _share(
        self,
        session: Session,
        info: InfoDict,
        path: Path,
        sha1: str,
        mtime_ns: int,
        *,
        hashed_as_of: os.stat_result | None,
    ) -> None:
        """Register a hashed file or folder, remember it, and seed it."""
        group_id = info.source
        await self.tracker.register_file(group_id, info.encode(), sha1)
        uploaded = sum(
            s.uploaded for s in session.state.shares() if s.info_hash == info.info_hash_hex
        )
        session.state.put_share(
            ShareRecord(
                info.info_hash_hex,
                group_id,
                info.name,
                str(path),
                info.length,
                mtime_ns,
                sha1,
                info.encode(),
                uploaded,  # shared again: keep its total
            )
        )
        transfer = self.node.transfers.get(info.info_hash)
        if transfer is None:
            transfer = self.node.seed(group_id, info.name, info, path, hashed_as_of=hashed_as_of)
        # So that list_files right after this already counts us as a peer.
        await transfer.announced.wait()

    async def _upload_folder(
        self, session: Session, path: Path, name: str, group_id: str
    ) -> Result:
        """Share a folder as one item; it has no whole-file SHA1 (its pieces, bound by the
        info-hash, verify it), and the tracker is sent an empty one."""
        try:
            info, scan = await self.hashing.build_folder_info(path, name, group_id)
        except PermissionError as exc:
            raise MinitorrentError(f"cannot read {exc.filename}: permission denied") from None
        except OSError as exc:
            raise MinitorrentError(f"cannot read {path}: {exc.strerror or exc}") from None
        await self._share(session, info, path, "", scan.newest_mtime_ns, hashed_as_of=None)
        lines: list[Line] = []
        if scan.skipped or scan.empty_folders:
            kind = "entry that is not" if scan.skipped == 1 else "entries that are not"
            lines.append(
                Notice(
                    f"skipped {scan.skipped} {kind} a regular file (links, devices, "
                    f"sockets) and {plural(scan.empty_folders, 'empty folder')} (a shared "
                    "folder holds its files only)"
                )
            )
        lines.append(
            Done(
                f"sharing '{name}/' in '{group_id}' ({plural(len(info.files), 'file')}, "
                f"{human_size(info.length)})"
            )
        )
        return lines

    async def list_files(self, group_id: str, name: str | None = None) -> Result:
        self._require_login()
        if name is not None:
            contents = await self.tracker.file_contents(group_id, name)
            return Table(
                ("path", "size"), [(p, human_size(n)) for p, n in contents], empty="no files"
            )
        files = await self.tracker.list_files(group_id)
        rows = [
            (f.name, human_size(f.length), f.sha1, str(f.seeders))
            if f.file_count is None
            else (
                f"{f.name}/",
                f"{plural(f.file_count, 'file')}  {human_size(f.length)}",
                "",
                str(f.seeders),
            )
            for f in files
        ]
        return Table(("name", "size", "sha1", "peers"), rows, empty="no files shared")

    async def stop_share(self, group_id: str, file_name: str) -> Result:
        session = self._require_login()
        await self.tracker.stop_share(group_id, file_name)
        for share in session.state.shares():
            if share.group_id == group_id and share.name == file_name:
                await self.node.remove(bytes.fromhex(share.info_hash))
                session.state.remove_share(share.info_hash)
        return Done(f"stopped sharing '{file_name}' in '{group_id}'")

    async def list_shares(self) -> Result:
        session = self._require_login()
        rows = []
        for share in session.state.shares():
            transfer = self.node.transfers.get(bytes.fromhex(share.info_hash))
            live = transfer.swarm.uploaded if transfer is not None else 0
            status = "sharing" if transfer is not None else "stopped"
            rows.append(
                (share.group_id, share.name, human_size(share.uploaded + live), status, share.path)
            )
        return Table(
            ("group", "name", "uploaded", "status", "path"), rows, empty="not sharing any file"
        )

    # -- trackers ----------------------------------------------------------------------

    async def trackers(self) -> Result:
        """The trackers in the file's order; `*` marks the one that answered last."""
        rows = []
        for index, standing in enumerate(self.tracker.standing()):
            mark = "*" if index == self.tracker.last_answered else ""
            rows.append((mark, str(self.tracker.trackers[index]), _tracker_state(standing)))
        return Table(("", "tracker", "state"), rows)

    # -- interop: hand a file to any BitTorrent client --------------------------------

    async def _announce_urls(self) -> list[str]:
        """This user's private announce URL on every tracker, in the file's order."""
        return private_announce_urls(self._tracker_urls(), await self._passkey())

    async def _passkey(self) -> str:
        me = await self.tracker.me()  # the current passkey, even if rotated elsewhere
        return str(me["passkey"])

    def _tracker_urls(self) -> list[str]:
        return [t.url for t in self.tracker.trackers]

    async def _group_file(self, group_id: str, file_name: str) -> InfoDict:
        raw_info, _ = await self.tracker.file_info(group_id, file_name)
        return InfoDict.decode(raw_info)

    async def export_torrent(self, group_id: str, file_name: str, out_path: str) -> Result:
        self._require_login()
        info = await self._group_file(group_id, file_name)
        data = private_torrent(info, self._tracker_urls(), await self._passkey())
        out = Path(out_path).expanduser()
        try:
            with open(out, "xb") as f:  # never overwrite
                f.write(data)
        except FileExistsError:
            raise MinitorrentError(f"{out_path} already exists (no overwrite)") from None
        except OSError as exc:
            raise MinitorrentError(f"cannot write {out_path}: {exc.strerror}") from None
        return Done(f"wrote {out_path} (info-hash {info.info_hash_hex}, private)")

    async def magnet(self, group_id: str, file_name: str) -> Result:
        self._require_login()
        info = await self._group_file(group_id, file_name)
        return Done(magnet_link(info, await self._announce_urls()))

    # -- downloads -------------------------------------------------------------------

    async def download_file(self, group_id: str, file_name: str, destination: str) -> Result:
        session = self._require_login()
        raw_info, sha1 = await self.tracker.file_info(group_id, file_name)
        info = InfoDict.decode(raw_info)  # every path of a folder checked again here
        name = safe_file_name(info.name)
        if info.source != group_id:
            raise MetainfoError("the tracker sent metadata of another group")
        check_limits(info.name, info.files, FolderLimits())
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
            have = await asyncio.to_thread(recheck, part, info, saved)
        session.state.put_download(
            DownloadRecord(
                info.info_hash_hex,
                group_id,
                name,
                str(target),
                str(part),
                sha1,
                raw_info,
                bytes(have),
            )
        )
        try:
            transfer = self.node.download(
                group_id,
                name,
                info,
                part_path=part,
                destination=target,
                sha1=sha1,
                have=have,
                resume=resume,
            )
        except (OSError, StorageError) as exc:
            session.state.remove_download(info.info_hash_hex)
            raise MinitorrentError(f"cannot create {part}: {exc}") from None
        session.downloads.pop(info.info_hash, None)
        session.downloads[info.info_hash] = transfer
        verb = "resuming" if resume else "downloading"
        done = f" ({sum(have)} of {info.num_pieces} pieces found good in {part.name})"
        return Done(f"{verb} '{name}' from '{group_id}' to {target}" + (done if adopted else ""))

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
                lines.append(f"[C] [{t.group_id}] {t.name}")
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
            f"{human_size(speed)}/s {plural(st.peers, 'peer')}" + (f" ETA {left}" if left else "")
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
        session.state.put_share(
            ShareRecord(
                info.info_hash_hex,
                transfer.group_id,
                transfer.name,
                str(transfer.destination),
                size,
                mtime_ns,
                transfer.sha1,
                info.encode(),
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


def _tracker_state(standing: Standing) -> str:
    if standing.failed and standing.retry_in > 0:
        return f"failed, retrying in {duration(standing.retry_in)}"
    if standing.failed:
        return "failed, retrying at the next request"
    return "ok" if standing.answered else "not contacted yet"


def _requested(text: str) -> str:
    """A join request's time as a person reads it (``3 min ago``, or local time)."""
    moment = parse_time(text)
    return text if moment is None else when(moment, datetime.now().astimezone())


def usage_error(usage: str) -> UsageError:
    return UsageError(f"wrong number of arguments; usage: {usage}")
