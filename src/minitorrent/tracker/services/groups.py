"""Groups, their members, admin and join requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.models import Group, JoinRequest, Membership
from minitorrent.tracker.services import activity, files
from minitorrent.tracker.services.access import (
    GroupAccess,
    require_admin,
    require_group,
    require_member,
)
from minitorrent.tracker.services.clock import utcnow
from minitorrent.tracker.services.errors import Conflict, Invalid, NotFound
from minitorrent.tracker.services.ids import check_id
from minitorrent.tracker.services.sql import run


@dataclass(frozen=True)
class GroupView:
    group_id: str
    admin: str
    members: int
    is_member: bool
    is_admin: bool
    pending: bool


@dataclass(frozen=True)
class MemberView:
    user_id: str
    is_admin: bool
    joined_at: datetime


@dataclass(frozen=True)
class RequestView:
    user_id: str
    requested_at: datetime


# Prebuilt statements (services/sql.run); the hot rules run nothing else.
_GROUP_EXISTS = select(exists().where(Group.id == bindparam("group_id")))
_ADD_GROUP = insert(Group).values(
    id=bindparam("group_id"), admin_id=bindparam("user_id"), created_at=bindparam("now")
)
_ADD_MEMBER = insert(Membership).values(
    group_id=bindparam("group_id"), user_id=bindparam("user_id"), joined_at=bindparam("now")
)
_GROUPS = select(
    Group.id,
    Group.admin_id,
    select(func.count()).where(Membership.group_id == Group.id).scalar_subquery(),
    exists().where(Membership.group_id == Group.id, Membership.user_id == bindparam("user_id")),
    exists().where(JoinRequest.group_id == Group.id, JoinRequest.user_id == bindparam("user_id")),
).order_by(Group.id)
_PENDING = select(
    exists().where(
        JoinRequest.group_id == bindparam("group_id"), JoinRequest.user_id == bindparam("user_id")
    )
)
_ADD_REQUEST = insert(JoinRequest).values(
    group_id=bindparam("group_id"), user_id=bindparam("user_id"), requested_at=bindparam("now")
)
_DROP_REQUEST = delete(JoinRequest).where(
    JoinRequest.group_id == bindparam("group_id"), JoinRequest.user_id == bindparam("user_id")
)
_REQUESTS = (
    select(JoinRequest.user_id, JoinRequest.requested_at)
    .where(JoinRequest.group_id == bindparam("group_id"))
    .order_by(JoinRequest.requested_at, JoinRequest.user_id)
)
_MEMBERS = (
    select(Membership.user_id, Membership.joined_at)
    .where(Membership.group_id == bindparam("group_id"))
    .order_by(Membership.id)
)
_DROP_MEMBER = delete(Membership).where(
    Membership.group_id == bindparam("group_id"), Membership.user_id == bindparam("user_id")
)
_HEIR = (
    select(Membership.user_id)
    .where(Membership.group_id == bindparam("group_id"))
    .order_by(Membership.id)
    .limit(1)
)
# Its requests (and any file left) go by ON DELETE CASCADE.
_DROP_GROUP = delete(Group).where(Group.id == bindparam("group_id"))
_SET_ADMIN = (
    update(Group).where(Group.id == bindparam("group_id")).values(admin_id=bindparam("heir"))
)


def create_group(db: Session, user_id: str, group_id: str, *, now: datetime) -> GroupView:
    check_id("group", group_id)
    if run(db, _GROUP_EXISTS, group_id=group_id).scalar():
        raise Conflict(f"group '{group_id}' already exists", code=ErrorCode.GROUP_EXISTS)
    run(db, _ADD_GROUP, group_id=group_id, user_id=user_id, now=now)
    run(db, _ADD_MEMBER, group_id=group_id, user_id=user_id, now=now)
    activity.record(db, group_id, user_id, "created", now=now)
    return GroupView(group_id, user_id, 1, is_member=True, is_admin=True, pending=False)


def list_groups(db: Session, user_id: str) -> list[GroupView]:
    return [
        GroupView(
            group_id=gid,
            admin=admin,
            members=n,
            is_member=bool(mine),
            is_admin=admin == user_id,
            pending=bool(pending),
        )
        for gid, admin, n, mine, pending in run(db, _GROUPS, user_id=user_id)
    ]


def _is_pending(db: Session, group_id: str, user_id: str) -> bool:
    return bool(run(db, _PENDING, group_id=group_id, user_id=user_id).scalar())


def request_join(db: Session, user_id: str, group_id: str, *, now: datetime) -> RequestView:
    group = require_group(db, group_id, user_id, lock=True)
    if group.is_member:
        raise Conflict(f"already a member of '{group_id}'", code=ErrorCode.ALREADY_MEMBER)
    if _is_pending(db, group_id, user_id):
        raise Conflict(
            f"join request for '{group_id}' already pending", code=ErrorCode.REQUEST_PENDING
        )
    run(db, _ADD_REQUEST, group_id=group_id, user_id=user_id, now=now)
    activity.record(db, group_id, user_id, "requested", now=now)
    return RequestView(user_id, now)


def leave_group(
    db: Session, user_id: str, group_id: str, *, now: datetime | None = None
) -> Literal["left", "withdrawn"]:
    """Leave the group, or withdraw a pending join request. `now` dates the activity
    log's line (the wall clock if not given)."""
    now = now or utcnow()
    group = require_group(db, group_id, user_id, lock=True)
    if group.is_member:
        activity.record(db, group_id, user_id, "left", now=now)
        _end_membership(db, group, user_id, now=now)
        return "left"
    if _drop_request(db, group_id, user_id):
        activity.record(db, group_id, user_id, "withdrew", now=now)
        return "withdrawn"
    raise Conflict(f"not a member of '{group_id}'", code=ErrorCode.NOT_MEMBER)


def _end_membership(db: Session, group: GroupAccess, user_id: str, *, now: datetime) -> None:
    """Drop a member with their shares; hand the admin role on, or drop an empty group
    (its activity log goes with it)."""
    files.withdraw(db, user_id, files.files_of_group(db, group.group_id), now=now)
    run(db, _DROP_MEMBER, group_id=group.group_id, user_id=user_id)
    if group.admin_id != user_id:
        return
    heir = run(db, _HEIR, group_id=group.group_id).scalar()
    if heir is None:
        run(db, _DROP_GROUP, group_id=group.group_id)
    else:
        run(db, _SET_ADMIN, group_id=group.group_id, heir=heir)
        activity.record(db, group.group_id, heir, "became_admin", heir, now=now)


def list_requests(db: Session, user_id: str, group_id: str) -> list[RequestView]:
    require_admin(db, group_id, user_id)
    return [RequestView(*row) for row in run(db, _REQUESTS, group_id=group_id)]


def _drop_request(db: Session, group_id: str, user_id: str) -> bool:
    """Whether there was a pending request to drop."""
    return run(db, _DROP_REQUEST, group_id=group_id, user_id=user_id).rowcount == 1


def _require_dropped_request(db: Session, group_id: str, user_id: str) -> None:
    if not _drop_request(db, group_id, user_id):
        raise NotFound(
            f"no pending request from '{user_id}' for '{group_id}'", code=ErrorCode.NO_SUCH_REQUEST
        )


def accept_request(
    db: Session, admin_id: str, group_id: str, user_id: str, *, now: datetime
) -> MemberView:
    require_admin(db, group_id, admin_id, lock=True)
    _require_dropped_request(db, group_id, user_id)
    run(db, _ADD_MEMBER, group_id=group_id, user_id=user_id, now=now)
    activity.record(db, group_id, admin_id, "accepted", user_id, now=now)
    return MemberView(user_id, is_admin=False, joined_at=now)


def reject_request(
    db: Session, admin_id: str, group_id: str, user_id: str, *, now: datetime | None = None
) -> None:
    require_admin(db, group_id, admin_id, lock=True)
    _require_dropped_request(db, group_id, user_id)
    activity.record(db, group_id, admin_id, "rejected", user_id, now=now or utcnow())


def list_members(db: Session, user_id: str, group_id: str) -> list[MemberView]:
    group = require_member(db, group_id, user_id)
    return [
        MemberView(member, member == group.admin_id, joined_at)
        for member, joined_at in run(db, _MEMBERS, group_id=group_id)
    ]


def remove_member(
    db: Session, admin_id: str, group_id: str, user_id: str, *, now: datetime | None = None
) -> None:
    now = now or utcnow()
    group = require_admin(db, group_id, admin_id, lock=True)
    if user_id == admin_id:
        raise Invalid("use leave_group to leave your own group", code=ErrorCode.REMOVE_SELF)
    if not require_group(db, group_id, user_id).is_member:
        raise NotFound(
            f"'{user_id}' is not a member of '{group_id}'", code=ErrorCode.NO_SUCH_MEMBER
        )
    activity.record(db, group_id, admin_id, "removed", user_id, now=now)
    _end_membership(db, group, user_id, now=now)
