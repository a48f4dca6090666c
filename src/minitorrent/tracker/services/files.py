"""Files shared in a group: one v1 info dictionary each, known by its info-hash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    ScalarSelect,
    Select,
    bindparam,
    delete,
    exists,
    func,
    select,
)
from sqlalchemy.orm import Session

from minitorrent.error_codes import ErrorCode
from minitorrent.errors import MetainfoError
from minitorrent.file_list import FolderLimits, check_limits
from minitorrent.metainfo import InfoDict
from minitorrent.tracker.models import Peer, Share, SharedFile
from minitorrent.tracker.services import activity, changes
from minitorrent.tracker.services.access import require_member
from minitorrent.tracker.services.clock import utcnow
from minitorrent.tracker.services.errors import Conflict, Invalid, NotFound
from minitorrent.tracker.services.quotas import Quotas, check_new_file, check_new_share
from minitorrent.tracker.services.sql import insert_ignore, run

MAX_INFO_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FileView:
    name: str
    length: int
    info_hash: str
    piece_length: int
    seeders: int
    leechers: int
    sharers: int
    file_count: int | None  # a folder's number of files; None for a file
    # Always empty: the info-hash is a file's identity. Clients of the previous version
    # read this key in every listing (they stop with an error without it).
    sha1: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class FileDetails(FileView):
    info: bytes


def _decode_info(raw: bytes, group_id: str, limits: FolderLimits) -> InfoDict:
    if len(raw) > MAX_INFO_BYTES:
        raise Invalid("info dictionary is too large", code=ErrorCode.BAD_INFO)
    try:
        info = InfoDict.decode(raw)
        check_limits(info.name, info.files, limits)
    except MetainfoError as exc:
        raise Invalid(f"bad info dictionary: {exc.message}", code=ErrorCode.BAD_INFO) from None
    if info.source != group_id:
        raise Invalid(
            f"the info dictionary's source is {info.source!r}, not the group '{group_id}'",
            code=ErrorCode.BAD_INFO,
        )
    if not info.private:
        raise Invalid("the info dictionary must be private", code=ErrorCode.BAD_INFO)
    return info  # decode() already refused unsafe names and paths (file_list.check_files)


def add_sharer(db: Session, file_id: int, user_id: str, *, now: datetime) -> None:
    insert_ignore(db, Share, {"file_id": file_id, "user_id": user_id, "created_at": now})


def share_file(
    db: Session,
    user_id: str,
    group_id: str,
    raw_info: bytes,
    *,
    now: datetime,
    quotas: Quotas | None = None,
    folder_limits: FolderLimits | None = None,
) -> SharedFile:
    """Register a file or folder in the group, or add the caller as a sharer of the same
    content. `quotas`: the limits of services/quotas.py (None: the defaults); a folder
    counts as one file and its whole info dictionary as info bytes. `folder_limits`:
    files per folder and path length (None: the defaults). The info-hash, which binds
    the piece hashes, is the file's identity."""
    quotas = quotas or Quotas()
    require_member(db, group_id, user_id, lock=True)
    info = _decode_info(raw_info, group_id, folder_limits or FolderLimits())
    # The info-hash covers `source`, so an equal hash is always a file of this group.
    shared = db.scalar(select(SharedFile).where(SharedFile.info_hash == info.info_hash_hex))
    if shared is None or db.get(Share, (shared.id, user_id)) is None:
        check_new_share(db, quotas, user_id, group_id, len(raw_info))
    if shared is None:
        if _find(db, group_id, info.name) is not None:
            raise Conflict(
                f"a different file named '{info.name}' is already shared in '{group_id}'",
                code=ErrorCode.FILE_NAME_TAKEN,
            )
        check_new_file(db, quotas, group_id, len(raw_info))
        shared = SharedFile(
            info_hash=info.info_hash_hex,
            group_id=group_id,
            name=info.name,
            length=info.length,
            piece_length=info.piece_length,
            info=raw_info,
            file_count=len(info.files) if info.is_folder else None,
            completed=0,
            created_at=now,
        )
        db.add(shared)
        db.flush()
    if db.get(Share, (shared.id, user_id)) is None:  # sharing again is no news
        add_sharer(db, shared.id, user_id, now=now)
        activity.record(db, group_id, user_id, "shared", shared.name, now=now)
    return shared


def _find(db: Session, group_id: str, name: str) -> SharedFile | None:
    return db.scalar(
        select(SharedFile).where(SharedFile.group_id == group_id, SharedFile.name == name)
    )


def _require_file(db: Session, group_id: str, name: str) -> SharedFile:
    shared = _find(db, group_id, name)
    if shared is None:
        raise NotFound(f"no such file '{name}' in '{group_id}'", code=ErrorCode.NO_SUCH_FILE)
    return shared


def _live_peers(where: ColumnElement[bool]) -> ScalarSelect[int]:
    return (
        select(func.count(Peer.id))
        .where(Peer.file_id == SharedFile.id, Peer.expires_at > bindparam("now"), where)
        .scalar_subquery()
    )


def _views_where(where: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    """Columns in FileView's field order; the info blob stays in the database."""
    sharers = select(func.count()).where(Share.file_id == SharedFile.id).scalar_subquery()
    return (
        select(
            SharedFile.name,
            SharedFile.length,
            SharedFile.info_hash,
            SharedFile.piece_length,
            _live_peers(Peer.left == 0),
            _live_peers(Peer.left > 0),
            sharers,
            SharedFile.file_count,
        )
        .where(where)
        .order_by(SharedFile.name)
    )


# Prebuilt statements (services/sql.run).
_VIEWS_OF_GROUP = _views_where(SharedFile.group_id == bindparam("group_id"))
_VIEW_OF_FILE = _views_where(SharedFile.id == bindparam("file_id"))
_FILES_OF_GROUP = select(SharedFile.id).where(SharedFile.group_id == bindparam("group_id"))


def list_files(db: Session, user_id: str, group_id: str, *, now: datetime) -> list[FileView]:
    require_member(db, group_id, user_id)
    return [FileView(*row) for row in run(db, _VIEWS_OF_GROUP, group_id=group_id, now=now)]


def get_file(db: Session, user_id: str, group_id: str, name: str, *, now: datetime) -> FileDetails:
    require_member(db, group_id, user_id)
    shared = _require_file(db, group_id, name)
    [view] = [FileView(*row) for row in run(db, _VIEW_OF_FILE, file_id=shared.id, now=now)]
    return FileDetails(**vars(view), info=shared.info)


def file_contents(db: Session, user_id: str, group_id: str, name: str) -> list[tuple[str, int]]:
    """The files of a shared item with their sizes: a folder's paths below it, or the
    file itself."""
    require_member(db, group_id, user_id)
    shared = _require_file(db, group_id, name)
    info = InfoDict.decode(shared.info)  # registered, so valid
    if not info.is_folder:
        return [(info.name, info.length)]
    return [(entry.relative, entry.length) for entry in info.files]


def stop_share(
    db: Session, user_id: str, group_id: str, name: str, *, now: datetime | None = None
) -> None:
    now = now or utcnow()
    require_member(db, group_id, user_id, lock=True)
    shared = _require_file(db, group_id, name)
    if db.get(Share, (shared.id, user_id)) is None:
        raise Conflict(f"you are not sharing '{name}' in '{group_id}'", code=ErrorCode.NOT_SHARING)
    activity.record(db, group_id, user_id, "unshared", name, now=now)
    withdraw(db, user_id, [shared.id], now=now)


_FILE_IDS: BindParameter[list[int]] = bindparam("file_ids", expanding=True)
_DROP_USER_PEERS = delete(Peer).where(
    Peer.user_id == bindparam("user_id"), Peer.file_id.in_(_FILE_IDS)
)
_DROP_USER_SHARES = delete(Share).where(
    Share.user_id == bindparam("user_id"), Share.file_id.in_(_FILE_IDS)
)
_UNSHARED = select(SharedFile.id, SharedFile.group_id, SharedFile.name).where(
    SharedFile.id.in_(_FILE_IDS), ~exists().where(Share.file_id == SharedFile.id)
)
_DROP_PEERS = delete(Peer).where(Peer.file_id.in_(_FILE_IDS))
_DROP_FILES = delete(SharedFile).where(SharedFile.id.in_(_FILE_IDS))


def withdraw(db: Session, user_id: str, file_ids: Sequence[int], *, now: datetime) -> None:
    """End the user's shares and live peers of these files; drop files nobody shares."""
    if not file_ids:
        return
    run(db, _DROP_USER_PEERS, user_id=user_id, file_ids=file_ids)
    run(db, _DROP_USER_SHARES, user_id=user_id, file_ids=file_ids)
    unshared = list(run(db, _UNSHARED, file_ids=file_ids))
    dropped = [file_id for file_id, _, _ in unshared]
    if unshared:
        for _, group_id, name in unshared:
            activity.record(db, group_id, user_id, "file_removed", name, now=now)
        run(db, _DROP_PEERS, file_ids=dropped)
        run(db, _DROP_FILES, file_ids=dropped)
    changes.record(db, changes.SharesEnded(user_id, frozenset(file_ids), frozenset(dropped)))


def files_of_group(db: Session, group_id: str) -> list[int]:
    return list(run(db, _FILES_OF_GROUP, group_id=group_id).scalars())
