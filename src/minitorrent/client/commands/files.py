"""File commands: share a file or folder, list, stop sharing; hand a file to any
BitTorrent client (.torrent, magnet)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from minitorrent.client.commands.base import ClientBase
from minitorrent.client.figures import plural
from minitorrent.client.results import Done, Line, Notice, Result, Table
from minitorrent.client.session import Session
from minitorrent.client.state import ShareRecord
from minitorrent.client.verify import verify_copy
from minitorrent.errors import MinitorrentError
from minitorrent.metainfo import (
    InfoDict,
    magnet_link,
    private_announce_urls,
    private_torrent,
)
from minitorrent.names import safe_file_name
from minitorrent.units import human_size

LONG = "--long"  # list_files <group> --long: full info-hashes
SHORT_HASH = 12  # hex digits of an info-hash in list_files' table, like git's short hash


class FileCommands(ClientBase):
    """The commands about shared files."""

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
        return Done(
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
            transfer = await self.node.seed(
                group_id, info.name, info, path, hashed_as_of=hashed_as_of
            )
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
                f"{human_size(info.length)}, info-hash {info.info_hash_hex})"
            )
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
        return Done(await verify_copy(session.state, self.hashing, group_id, name))

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

    # -- interop: hand a file to any BitTorrent client --------------------------------

    async def _announce_urls(self) -> list[str]:
        """This user's private announce URL on every tracker, in the file's order."""
        return private_announce_urls(self._tracker_urls(), await self._passkey())

    async def _passkey(self) -> str:
        me = await self.tracker.me()  # the current passkey, even if rotated elsewhere
        return me.passkey

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
        return Done(f"wrote {out_path} (info-hash {info.info_hash_hex}, private)")

    async def magnet(self, group_id: str, file_name: str) -> Result:
        self._require_login()
        info = await self._group_file(group_id, file_name)
        return Done(magnet_link(info, await self._announce_urls()))
