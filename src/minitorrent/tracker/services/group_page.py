"""What a group's web page shows of its files: files.list_files' counts, plus who shares
each file, since when, and how many downloads completed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from minitorrent.tracker.models import Share, SharedFile
from minitorrent.tracker.services import files
from minitorrent.tracker.services.sql import run


@dataclass(frozen=True)
class FileRow:
    name: str
    length: int
    info_hash: str
    shared_at: datetime
    seeders: int
    leechers: int
    completed: int
    sharers: tuple[str, ...]  # first sharer first


_EXTRA = select(SharedFile.info_hash, SharedFile.created_at, SharedFile.completed).where(
    SharedFile.group_id == bindparam("group_id")
)
_SHARERS = (
    select(SharedFile.info_hash, Share.user_id)
    .join(SharedFile, SharedFile.id == Share.file_id)
    .where(SharedFile.group_id == bindparam("group_id"))
    .order_by(Share.created_at, Share.user_id)
)


def file_rows(db: Session, user_id: str, group_id: str, *, now: datetime) -> list[FileRow]:
    """By name; members only (files.list_files checks)."""
    views = files.list_files(db, user_id, group_id, now=now)
    extra = {ih: (at, done) for ih, at, done in run(db, _EXTRA, group_id=group_id)}
    sharers: dict[str, list[str]] = {}
    for info_hash, sharer in run(db, _SHARERS, group_id=group_id):
        sharers.setdefault(info_hash, []).append(sharer)
    return [
        FileRow(
            name=v.name,
            length=v.length,
            info_hash=v.info_hash,
            shared_at=extra[v.info_hash][0],
            seeders=v.seeders,
            leechers=v.leechers,
            completed=extra[v.info_hash][1],
            sharers=tuple(sharers.get(v.info_hash, ())),
        )
        for v in views
    ]
