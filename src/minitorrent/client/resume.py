"""Carrying on at login: serve again what this machine shared, resume what it was
downloading, from the records of the state file (client/state.py).

Works against two small interfaces, the tracker's share withdrawal and the node's
transfers, so that nothing here reaches into the layers below them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol, TypeVar

from minitorrent.client import only
from minitorrent.client.results import Done, Line, Notice
from minitorrent.client.state import DownloadRecord, ShareRecord, UserState, damage_of
from minitorrent.errors import MinitorrentError, StorageError
from minitorrent.folder import hash_folder, scan_folder
from minitorrent.metainfo import InfoDict, hash_file
from minitorrent.peer.folder_storage import open_storage
from minitorrent.peer.storage import locked_elsewhere
from minitorrent.peer.transfer import Transfer
from minitorrent.selection import pieces_wanted

Record = TypeVar("Record", ShareRecord, DownloadRecord)


class ShareWithdrawal(Protocol):
    """The tracker, as far as carrying on needs it."""

    async def stop_share(self, group_id: str, name: str) -> None: ...


class TransferNode(Protocol):
    """The peer node, as far as carrying on needs it."""

    @property
    def transfers(self) -> Mapping[bytes, Transfer]: ...

    async def seed(
        self,
        group_id: str,
        name: str,
        info: InfoDict,
        path: Path,
        *,
        hashed_as_of: os.stat_result | None = None,
        skip: frozenset[int] = frozenset(),
    ) -> Transfer: ...

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
    ) -> Transfer: ...

    async def remove(self, info_hash: bytes) -> None: ...


async def share_again(state: UserState, tracker: ShareWithdrawal, node: TransferNode) -> list[Line]:
    """Serve again every file shared before from this machine, if unchanged."""
    notes: list[Line] = []
    transfers = []
    hint = "upload_file it again to share it"
    for share, info in _readable(state.shares(), state.remove_share, hint, notes):
        path = Path(share.path)
        try:
            part_of = only.stored(info, share.only)
            if part_of is not None:  # its files are checked when opened
                hashed_as_of = None  # and each piece before its first upload
            elif info.is_folder:
                await asyncio.to_thread(_check_folder, state, share, info)
                hashed_as_of = None  # each piece is checked before its first upload
            else:
                hashed_as_of = st = path.stat()
                if st.st_size != share.size or st.st_mtime_ns != share.mtime_ns:
                    pieces = await asyncio.to_thread(hash_file, path, info.piece_length)
                    if st.st_size != info.length or pieces != info.pieces:
                        raise StorageError("its content changed")
                    _record_checked(state, share, st.st_size, st.st_mtime_ns)
            transfers.append(
                await node.seed(
                    share.group_id,
                    share.name,
                    info,
                    path,
                    hashed_as_of=hashed_as_of,
                    skip=only.skipped(part_of),
                )
            )
        except (OSError, MinitorrentError) as exc:
            reason = "it is gone" if isinstance(exc, FileNotFoundError) else str(exc)
            notes.append(Notice(f"no longer sharing [{share.group_id}] {share.name}: {reason}"))
            state.remove_share(share.info_hash)
            with contextlib.suppress(MinitorrentError):
                await tracker.stop_share(share.group_id, share.name)
    # As after upload_file: list_files right after login already counts us.
    await asyncio.gather(*(t.announced.wait() for t in transfers))
    for transfer in transfers:
        if transfer.swarm.failed and not transfer.failure_reported:  # refused (left group)
            notes.append(
                Notice(
                    f"no longer sharing [{transfer.group_id}] {transfer.name}: "
                    f"{transfer.swarm.reason}"
                )
            )
            await node.remove(transfer.info_hash)
            state.remove_share(transfer.info_hash.hex())
    count = len(state.shares())
    if count:
        notes.append(Done(f"sharing {count} file(s) again"))
    return notes


async def resume_downloads(
    state: UserState, downloads: dict[bytes, Transfer], node: TransferNode
) -> list[Line]:
    """Start again every download that was running; each goes into `downloads`."""
    notes: list[Line] = []
    hint = "download_file it again (its .part is re-checked)"
    for record, info in _readable(state.downloads(), state.remove_download, hint, notes):
        if record.stopped is not None:
            continue  # cancelled or failed: stays so until download_file again
        info_hash = info.info_hash
        if info_hash in node.transfers or not Path(record.part_path).exists():
            continue
        if locked_elsewhere(record.part_path):
            notes.append(
                Notice(
                    f"not resuming [{record.group_id}] {record.name}: another client "
                    "process of this user is downloading it"
                )
            )
            continue
        try:
            skip = only.skipped(only.stored(info, record.only))
            have = await asyncio.to_thread(recheck, Path(record.part_path), info, record.have, skip)
            transfer = await node.download(
                record.group_id,
                record.name,
                info,
                part_path=Path(record.part_path),
                destination=Path(record.destination),
                have=have,
                resume=True,
                skip=skip,
            )
        except (OSError, MinitorrentError) as exc:
            notes.append(Notice(f"cannot resume [{record.group_id}] {record.name}: {exc}"))
            continue
        downloads[info_hash] = transfer
        notes.append(
            Done(
                f"resuming [{record.group_id}] {record.name} "
                f"({sum(have)} of {info.num_pieces} pieces already verified)"
            )
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


def _readable(
    records: Iterable[Record], forget: Callable[[str], None], hint: str, notes: list[Line]
) -> Iterator[tuple[Record, InfoDict]]:
    """Each record with its info dictionary; a damaged one is forgotten with a notice."""
    for record in records:
        try:
            info = _decode_record(record)
        except MinitorrentError as exc:
            notes.append(_dropped(record, exc, hint))
            forget(record.info_hash)
            continue
        yield record, info


def _dropped(record: ShareRecord | DownloadRecord, exc: MinitorrentError, hint: str) -> Notice:
    kind = "share" if isinstance(record, ShareRecord) else "download"
    return Notice(
        f"dropped a damaged {kind} record of the state file "
        f"([{record.group_id!s}] {record.name!s}): {exc}; {hint}"
    )


def recheck(
    part: Path, info: InfoDict, saved: bytes, skip: frozenset[int] = frozenset()
) -> list[bool]:
    """Which pieces of a partial file are good: the saved resume data vouches for the
    pieces it marks, the rest (verified after the last save) are re-hashed; part of a
    folder (``skip``): its wanted pieces only."""
    with open_storage(part, info, writable=False, skip=skip) as storage:
        return storage.recheck(trusted=[b == 1 for b in saved], wanted=pieces_wanted(info, skip))
