"""How much one member, and one group, may register: files and info-dictionary bytes.

Every registration stores its info dictionary (up to files.MAX_INFO_BYTES, 16 MiB) in
the tracker's database, and every listing reads the group's files; without a limit one
member could fill the disk or make the group unusable. The counts come from the tables
themselves (a member's files are those they share), so nothing can drift out of step.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.models import Share, SharedFile
from minitorrent.tracker.services.errors import Forbidden
from minitorrent.tracker.services.sql import run

MiB = 1024 * 1024
# The defaults leave ordinary use far behind: a typical info dictionary is 20 bytes per
# piece, 40 KiB at most for files up to 8 GiB (metainfo.piece_length_for), so 1,000
# files in a group cost a member about 40 MiB. Only a member registering in bulk, or
# huge hand-made dictionaries (the 16 MiB maximum fits 16 times in 256 MiB), meets one.
# The group's limits bound the database at about 1 GiB per group.
FILES_PER_MEMBER = 1_000  # in one group
FILES_PER_GROUP = 10_000
INFO_BYTES_PER_MEMBER = 256 * MiB  # in all groups together
INFO_BYTES_PER_GROUP = 1024 * MiB


@dataclass(frozen=True)
class Quotas:
    files_per_member: int = FILES_PER_MEMBER
    files_per_group: int = FILES_PER_GROUP
    info_bytes_per_member: int = INFO_BYTES_PER_MEMBER
    info_bytes_per_group: int = INFO_BYTES_PER_GROUP


_LENGTH = func.coalesce(func.sum(func.length(SharedFile.info)), 0)
_OF_MEMBER = (
    select(func.count(SharedFile.id), _LENGTH)
    .join(Share, Share.file_id == SharedFile.id)
    .where(Share.user_id == bindparam("user_id"))
)
_OF_MEMBER_IN_GROUP = _OF_MEMBER.where(SharedFile.group_id == bindparam("group_id"))
_OF_GROUP = select(func.count(SharedFile.id), _LENGTH).where(
    SharedFile.group_id == bindparam("group_id")
)


def _quota_reached(detail: str) -> Forbidden:
    return Forbidden(f"quota reached: {detail}", code=ErrorCode.QUOTA_EXCEEDED)


def check_new_share(
    db: Session, quotas: Quotas, user_id: str, group_id: str, info_bytes: int
) -> None:
    """Before the user shares one more file of the group (Forbidden, quota_exceeded)."""
    files, _ = run(db, _OF_MEMBER_IN_GROUP, user_id=user_id, group_id=group_id).one()
    if files + 1 > quotas.files_per_member:
        raise _quota_reached(
            f"you already share the most files a member may in '{group_id}' "
            f"({quotas.files_per_member})"
        )
    _, size = run(db, _OF_MEMBER, user_id=user_id).one()
    if size + info_bytes > quotas.info_bytes_per_member:
        raise _quota_reached(
            f"the info dictionaries of the files you share would take {size + info_bytes} "
            f"bytes; a member may have {quotas.info_bytes_per_member}"
        )


def check_new_file(db: Session, quotas: Quotas, group_id: str, info_bytes: int) -> None:
    """Before a file is added to the group (Forbidden, quota_exceeded)."""
    files, size = run(db, _OF_GROUP, group_id=group_id).one()
    if files + 1 > quotas.files_per_group:
        raise _quota_reached(
            f"'{group_id}' already holds the most files a group may ({quotas.files_per_group})"
        )
    if size + info_bytes > quotas.info_bytes_per_group:
        raise _quota_reached(
            f"the info dictionaries of '{group_id}' would take {size + info_bytes} bytes; "
            f"a group may have {quotas.info_bytes_per_group}"
        )
