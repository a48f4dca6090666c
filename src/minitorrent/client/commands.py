"""One method per shell command: checks arguments, talks to the tracker and the
peer node, returns data to render, raises MinitorrentError to refuse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from minitorrent.client.figures import Speedometer, duration, eta, parse_time, plural, when
from minitorrent.client.hashing import Hashing
from minitorrent.client.state import (
    DownloadRecord,
    ShareRecord,
    StateUnusable,
    UserState,
    damage_of,
    open_user_state,
)
from minitorrent.client.verify import verify_copy
from minitorrent.errors import (
    MetainfoError,
    MinitorrentError,
    StorageError,
    TrackerRefused,
    UsageError,
)
from minitorrent.file_list import FolderLimits, check_limits
from minitorrent.folder import hash_folder, scan_folder
from minitorrent.metainfo import (
    InfoDict,
    hash_file,
    magnet_link,
    private_announce_urls,
    private_torrent,
    safe_file_name,
)
from minitorrent.peer.folder_storage import open_storage
from minitorrent.peer.node import PeerNode, Transfer, TransferKind
from minitorrent.peer.storage import check_own_file, locked_elsewhere
from minitorrent.peer.swarm import State
from minitorrent.peer.tracker_client import Standing, TrackerClient
from minitorrent.units import human_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    empty: str = "(none)"
    heading: str = ""  # a line shown above the table


Result = str | Table | list[str] | None
LONG = "--long"  # list_files <group> --long: full info-hashes
SHORT_HASH = 12  # hex digits of an info-hash in list_files' table, like git's short hash


@dataclass
class Session:
    user_id: str
    token: str
    passkey: str
    state: UserState
    downloads: dict[bytes, Transfer] = field(default_factory=dict)  # in start order
    keepalive: asyncio.Task[None] | None = None
    tracker: int | None = None  # index of the tracker that opened the session
    shared_database: bool = True  # whether other trackers can know the session


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
        return f"user '{user_id}' created"

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
        lines = [f"logged in as '{user_id}'"]
        damaged = state.damage_notice()
        if damaged is not None:
            lines.append(damaged)
        lines += await self._share_again(self.session)
        lines += await self._resume_downloads(self.session)
        return lines

    async def logout(self) -> Result:
        session = self._require_login()
        await self._end_session(session)
        return f"logged out '{session.user_id}'"

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
        return f"group '{group_id}' created; you are its admin"

    async def join_group(self, group_id: str) -> Result:
        self._require_login()
        await self.tracker.join_group(group_id)
        return f"join request sent to the admin of '{group_id}'"

    async def leave_group(self, group_id: str) -> Result:
        session = self._require_login()
        if await self.tracker.leave_group(group_id) == "withdrawn":
            return f"withdrew your request to join '{group_id}'"
        for share in session.state.shares():
            if share.group_id == group_id:
                await self.node.remove(bytes.fromhex(share.info_hash))
        session.state.remove_group_shares(group_id)
        return f"left '{group_id}'"

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
        return f"'{user_id}' is now a member of '{group_id}'"

    async def reject_request(self, group_id: str, user_id: str) -> Result:
        self._require_login()
        await self.tracker.answer_request(group_id, user_id, accept=False)
        return f"rejected the request of '{user_id}' to join '{group_id}'"

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
        return f"removed '{user_id}' from '{group_id}'"

    async def rotate_passkey(self) -> Result:
        session = self._require_login()
        body = await self.tracker.rotate_passkey()
        session.passkey = body["passkey"]
        return "passkey rotated; links and .torrent files made before stop working"

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
        info = await self.hashing.build_info(path, name, group_id, st.st_size)
        await self._share(session, info, path, st.st_mtime_ns, hashed_as_of=st)
        return (
            f"sharing '{name}' in '{group_id}' ({human_size(info.length)}, "
            f"info-hash {info.info_hash_hex})"
        )

    async def _share(
        self,
        session: Session,
        info: InfoDict,
        path: Path,
        mtime_ns: int,
        *,
        hashed_as_of: os.stat_result | None,
    ) -> None:
        """Register a hashed file or folder, remember it, and seed it."""
        group_id = info.source
        await self.tracker.register_file(group_id, info.encode())
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
        """Share a folder as one item (its pieces, bound by the info-hash, verify it)."""
        try:
            info, scan = await self.hashing.build_folder_info(path, name, group_id)
        except PermissionError as exc:
            raise MinitorrentError(f"cannot read {exc.filename}: permission denied") from None
        except OSError as exc:
            raise MinitorrentError(f"cannot read {path}: {exc.strerror or exc}") from None
        await self._share(session, info, path, scan.newest_mtime_ns, hashed_as_of=None)
        lines = []
        if scan.skipped or scan.empty_folders:
            kind = "entry that is not" if scan.skipped == 1 else "entries that are not"
            lines.append(
                f"notice: skipped {scan.skipped} {kind} a regular file (links, devices, "
                f"sockets) and {plural(scan.empty_folders, 'empty folder')} (a shared "
                "folder holds its files only)"
            )
        lines.append(
            f"sharing '{name}/' in '{group_id}' ({plural(len(info.files), 'file')}, "
            f"{human_size(info.length)}, info-hash {info.info_hash_hex})"
        )
        return lines

    async def list_files(self, group_id: str, name: str | None = None) -> Result:
        """A group's files with their info-hash, short (``--long``: in full); with a name,
        the files inside it under its full info-hash."""
        self._require_login()
        if name is not None and name != LONG:
            info = await self._group_file(group_id, name)
            contents = await self.tracker.file_contents(group_id, name)
            return Table(
                ("path", "size"),
                [(p, human_size(n)) for p, n in contents],
                empty="no files",
                heading=f"info-hash {info.info_hash_hex}",
            )
        digits = None if name == LONG else SHORT_HASH
        files = await self.tracker.list_files(group_id)
        rows = [
            (f.name, human_size(f.length), f.info_hash[:digits], str(f.seeders))
            if f.file_count is None
            else (
                f"{f.name}/",
                f"{plural(f.file_count, 'file')}  {human_size(f.length)}",
                f.info_hash[:digits],
                str(f.seeders),
            )
            for f in files
        ]
        return Table(("name", "size", "info-hash", "peers"), rows, empty="no files shared")

    async def verify(self, group_id: str, name: str) -> Result:
        session = self._require_login()
        return await verify_copy(session.state, self.hashing, group_id, name)

    async def stop_share(self, group_id: str, file_name: str) -> Result:
        session = self._require_login()
        await self.tracker.stop_share(group_id, file_name)
        for share in session.state.shares():
            if share.group_id == group_id and share.name == file_name:
                await self.node.remove(bytes.fromhex(share.info_hash))
                session.state.remove_share(share.info_hash)
        return f"stopped sharing '{file_name}' in '{group_id}'"

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
        return InfoDict.decode(await self.tracker.file_info(group_id, file_name))

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
        return f"wrote {out_path} (info-hash {info.info_hash_hex}, private)"

    async def magnet(self, group_id: str, file_name: str) -> Result:
        self._require_login()
        info = await self._group_file(group_id, file_name)
        return magnet_link(info, await self._announce_urls())

    # -- downloads -------------------------------------------------------------------

    async def download_file(self, group_id: str, file_name: str, destination: str) -> Result:
        session = self._require_login()
        raw_info = await self.tracker.file_info(group_id, file_name)
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
            if not _may_be_part_of(part, info):
                raise MinitorrentError(f"{part} already exists (remove it or choose another place)")
            if locked_elsewhere(part):
                raise MinitorrentError(f"{part} is being written by another client process")
            resume = True
        have = [False] * info.num_pieces
        if resume:
            _check_own_part(part, info)  # never finish a .part another user planted
            saved = record.have if record is not None and not adopted else b""
            have = await asyncio.to_thread(_recheck, part, info, saved)
        session.state.put_download(
            DownloadRecord(
                info.info_hash_hex,
                group_id,
                name,
                str(target),
                str(part),
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
        return f"{verb} '{name}' from '{group_id}' to {target}" + (done if adopted else "")

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
                return f"cancelled '{file_name}' (verified pieces kept for a later download_file)"
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
        return lines or "no downloads"

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
        return f"{len(pending)} download(s) complete" if pending else "no downloads in progress"

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

    async def _share_again(self, session: Session) -> list[str]:
        """Serve again every file shared before from this machine, if unchanged."""
        notes = []
        transfers = []
        for share in session.state.shares():
            try:
                info = _decode_record(share)
            except MinitorrentError as exc:
                notes.append(_dropped(share, exc, "upload_file it again to share it"))
                session.state.remove_share(share.info_hash)
                continue
            path = Path(share.path)
            try:
                if info.is_folder:
                    await asyncio.to_thread(_check_folder, session.state, share, info)
                    hashed_as_of = None  # each piece is checked before its first upload
                else:
                    hashed_as_of = st = path.stat()
                    if st.st_size != share.size or st.st_mtime_ns != share.mtime_ns:
                        pieces = await asyncio.to_thread(hash_file, path, info.piece_length)
                        if st.st_size != info.length or pieces != info.pieces:
                            raise StorageError("its content changed")
                        _record_checked(session.state, share, st.st_size, st.st_mtime_ns)
                transfers.append(
                    self.node.seed(
                        share.group_id, share.name, info, path, hashed_as_of=hashed_as_of
                    )
                )
            except (OSError, MinitorrentError) as exc:
                reason = "it is gone" if isinstance(exc, FileNotFoundError) else str(exc)
                notes.append(f"notice: no longer sharing [{share.group_id}] {share.name}: {reason}")
                session.state.remove_share(share.info_hash)
                with contextlib.suppress(MinitorrentError):
                    await self.tracker.stop_share(share.group_id, share.name)
        # As after upload_file: list_files right after login already counts us.
        await asyncio.gather(*(t.announced.wait() for t in transfers))
        for transfer in transfers:
            if transfer.swarm.failed and not transfer.failure_reported:  # refused (left group)
                notes.append(
                    f"notice: no longer sharing [{transfer.group_id}] {transfer.name}: "
                    f"{transfer.swarm.reason}"
                )
                await self.node.remove(transfer.info_hash)
                session.state.remove_share(transfer.info_hash.hex())
        count = len(session.state.shares())
        if count:
            notes.append(f"sharing {count} file(s) again")
        return notes

    async def _resume_downloads(self, session: Session) -> list[str]:
        notes = []
        for record in session.state.downloads():
            try:
                info = _decode_record(record)
            except MinitorrentError as exc:
                notes.append(
                    _dropped(record, exc, "download_file it again (its .part is re-checked)")
                )
                session.state.remove_download(record.info_hash)
                continue
            if record.stopped is not None:
                continue  # cancelled or failed: stays so until download_file again
            info_hash = info.info_hash
            if info_hash in self.node.transfers or not Path(record.part_path).exists():
                continue
            if locked_elsewhere(record.part_path):
                notes.append(
                    f"notice: not resuming [{record.group_id}] {record.name}: another client "
                    "process of this user is downloading it"
                )
                continue
            try:
                have = await asyncio.to_thread(_recheck, Path(record.part_path), info, record.have)
                transfer = self.node.download(
                    record.group_id,
                    record.name,
                    info,
                    part_path=Path(record.part_path),
                    destination=Path(record.destination),
                    have=have,
                    resume=True,
                )
            except (OSError, MinitorrentError) as exc:
                notes.append(f"notice: cannot resume [{record.group_id}] {record.name}: {exc}")
                continue
            session.downloads[info_hash] = transfer
            notes.append(
                f"resuming [{record.group_id}] {record.name} "
                f"({sum(have)} of {info.num_pieces} pieces already verified)"
            )
        return notes


def _record_checked(state: UserState, share: ShareRecord, size: int, mtime_ns: int) -> None:
    """The shared file or folder was re-hashed and is unchanged: remember as of when."""
    state.put_share(replace(share, size=size, mtime_ns=mtime_ns))


def _check_folder(state: UserState, share: ShareRecord, info: InfoDict) -> None:
    """A shared folder still holds the same files; re-hashed if any was modified since
    it was last hashed (its newest modification time moved)."""
    scan = scan_folder(share.path)
    if set(scan.files) != set(info.files):
        raise StorageError("its files changed (added, removed or resized)")
    if scan.newest_mtime_ns != share.mtime_ns:
        if hash_folder(scan.root, info.files, info.piece_length) != info.pieces:
            raise StorageError("its content changed")
        _record_checked(state, share, info.length, scan.newest_mtime_ns)


def _decode_record(record: ShareRecord | DownloadRecord) -> InfoDict:
    """The info dictionary of a record read back from the state file, or why not."""
    damage = damage_of(record)
    if damage is not None:
        raise MinitorrentError(damage)
    info = InfoDict.decode(record.info)
    if info.info_hash_hex != record.info_hash:
        raise MinitorrentError("its info dictionary does not match its info-hash")
    return info


def _dropped(record: ShareRecord | DownloadRecord, exc: MinitorrentError, hint: str) -> str:
    kind = "share" if isinstance(record, ShareRecord) else "download"
    return (
        f"notice: dropped a damaged {kind} record of the state file "
        f"([{record.group_id!s}] {record.name!s}): {exc}; {hint}"
    )


def resolve_destination(destination: str, name: str) -> Path:
    """An existing directory means <dir>/<name>; otherwise the file to write. A trailing
    slash says "a directory": one that does not exist is refused, not taken as a file."""
    path = Path(destination).expanduser().absolute()
    if destination.endswith(("/", os.sep)) and not path.is_dir():
        missing = "is not a directory" if path.exists() else "does not exist"
        raise MinitorrentError(f"directory {path} {missing}")
    if path.is_dir():
        if path.is_symlink():
            raise MinitorrentError(f"{destination} is a symbolic link; give the real directory")
        path = path / safe_file_name(name)  # a name from the tracker stays in the directory
    elif not path.parent.is_dir():
        raise MinitorrentError(f"directory {path.parent} does not exist")
    if path.is_symlink():
        raise MinitorrentError(f"{path} is a symbolic link; refusing to write through it")
    if path.exists():
        raise MinitorrentError(f"{path} already exists (no overwrite)")
    if not os.access(path.parent, os.W_OK):
        raise MinitorrentError(f"cannot write to {path.parent}: permission denied")
    # The download goes to <name>.part first: that name must fit the file system too.
    longest = _name_max(path.parent)
    if len(os.fsencode(path.name + ".part")) > longest:
        raise MinitorrentError(
            f"the file name is too long for {path.parent} (at most {longest} bytes with "
            "'.part'); give a shorter destination file name"
        )
    return path


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _may_be_part_of(part: Path, info: InfoDict) -> bool:
    """Whether an existing file can be a partial download of `info`: a regular file (not
    a link) of its size, or for a folder a folder (its files are checked when opened)."""
    st = part.lstat()
    if info.is_folder:
        return stat.S_ISDIR(st.st_mode)
    return stat.S_ISREG(st.st_mode) and st.st_size == info.length


def _check_own_part(part: Path, info: InfoDict) -> None:
    """A .part file must be ours and writable by us only; a .part folder must be ours
    (its folders follow the umask, and its files are reached without following links)."""
    if not info.is_folder:
        check_own_file(part)
    elif part.lstat().st_uid != os.geteuid():
        raise StorageError(
            f"{part} belongs to another user; not using it (remove it or choose another place)"
        )


def _recheck(part: Path, info: InfoDict, saved: bytes) -> list[bool]:
    """Which pieces of a partial file are good: the saved resume data vouches for the
    pieces it marks, the rest (verified after the last save) are re-hashed."""
    with open_storage(part, info, writable=False) as storage:
        return storage.recheck(trusted=[b == 1 for b in saved])


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
