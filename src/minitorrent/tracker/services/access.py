"""Who may touch a group: the checks every group-scoped rule starts with.

Order everywhere: the group exists (NotFound), then membership or admin (Forbidden).
One prebuilt query answers all three questions (services/sql.run).

Rules that change a group pass lock=True: SELECT ... FOR UPDATE on the group row makes
changes to one group take turns. On PostgreSQL several trackers write at once (READ
COMMITTED), and e.g. the last two members leaving together through two trackers
would otherwise leave a group with no member. SQLite ignores it: BEGIN IMMEDIATE
already lets one writer in at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.models import Group, Membership
from minitorrent.tracker.services.errors import Forbidden, NotFound
from minitorrent.tracker.services.sql import run

_ACCESS = select(
    Group.admin_id,
    exists().where(Membership.group_id == Group.id, Membership.user_id == bindparam("user_id")),
).where(Group.id == bindparam("group_id"))
_ACCESS_LOCKED = _ACCESS.with_for_update(of=Group)


@dataclass(frozen=True, slots=True)
class GroupAccess:
    """A group as one user sees it."""

    group_id: str
    admin_id: str
    is_member: bool


def require_group(db: Session, group_id: str, user_id: str, *, lock: bool = False) -> GroupAccess:
    """The group (NotFound if there is none) and whether `user_id` is in it."""
    row = run(db, _ACCESS_LOCKED if lock else _ACCESS, group_id=group_id, user_id=user_id).first()
    if row is None:
        raise NotFound(f"no such group '{group_id}'", code=ErrorCode.NO_SUCH_GROUP)
    return GroupAccess(group_id, row[0], bool(row[1]))


def require_member(db: Session, group_id: str, user_id: str, *, lock: bool = False) -> GroupAccess:
    group = require_group(db, group_id, user_id, lock=lock)
    if not group.is_member:
        raise Forbidden(f"not a member of '{group_id}'", code=ErrorCode.NOT_MEMBER)
    return group


def require_admin(db: Session, group_id: str, user_id: str, *, lock: bool = False) -> GroupAccess:
    group = require_group(db, group_id, user_id, lock=lock)
    if group.admin_id != user_id:
        raise Forbidden(f"only the admin of '{group_id}' can do that", code=ErrorCode.NOT_ADMIN)
    return group
