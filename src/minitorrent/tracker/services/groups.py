"""Groups, their members, admin and join requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minitorrent.tracker.models import Group, JoinRequest, Membership
from minitorrent.tracker.services import files
from minitorrent.tracker.services.access import (
    membership,
    require_admin,
    require_group,
    require_member,
)
from minitorrent.tracker.services.errors import Conflict, Invalid, NotFound
from minitorrent.tracker.services.ids import check_id


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


def create_group(db: Session, user_id: str, group_id: str, *, now: datetime) -> GroupView:
    check_id("group", group_id)
    if db.get(Group, group_id) is not None:
        raise Conflict(f"group '{group_id}' already exists", code="group_exists")
    db.add(Group(id=group_id, admin_id=user_id, created_at=now))
    db.flush()
    db.add(Membership(group_id=group_id, user_id=user_id, joined_at=now))
    db.flush()
    return GroupView(group_id, user_id, 1, is_member=True, is_admin=True, pending=False)


def list_groups(db: Session, user_id: str) -> list[GroupView]:
    counts = select(func.count()).where(Membership.group_id == Group.id).scalar_subquery()
    mine = set(db.scalars(select(Membership.group_id).where(Membership.user_id == user_id)))
    pending = set(db.scalars(select(JoinRequest.group_id).where(JoinRequest.user_id == user_id)))
    rows = db.execute(select(Group.id, Group.admin_id, counts).order_by(Group.id)).all()
    return [
        GroupView(
            group_id=gid,
            admin=admin,
            members=n,
            is_member=gid in mine,
            is_admin=admin == user_id,
            pending=gid in pending,
        )
        for gid, admin, n in rows
    ]


def _pending(db: Session, group_id: str, user_id: str) -> JoinRequest | None:
    return db.get(JoinRequest, (group_id, user_id))


def request_join(db: Session, user_id: str, group_id: str, *, now: datetime) -> RequestView:
    require_group(db, group_id, lock=True)
    if membership(db, group_id, user_id) is not None:
        raise Conflict(f"already a member of '{group_id}'", code="already_member")
    if _pending(db, group_id, user_id) is not None:
        raise Conflict(f"join request for '{group_id}' already pending", code="request_pending")
    db.add(JoinRequest(group_id=group_id, user_id=user_id, requested_at=now))
    db.flush()
    return RequestView(user_id, now)


def leave_group(db: Session, user_id: str, group_id: str) -> Literal["left", "withdrawn"]:
    """Leave the group, or withdraw a pending join request."""
    group = require_group(db, group_id, lock=True)
    member = membership(db, group_id, user_id)
    if member is not None:
        _end_membership(db, group, member)
        return "left"
    request = _pending(db, group_id, user_id)
    if request is not None:
        db.delete(request)
        db.flush()
        return "withdrawn"
    raise Conflict(f"not a member of '{group_id}'", code="not_member")


def _end_membership(db: Session, group: Group, member: Membership) -> None:
    """Drop a member with their shares; hand the admin role on, or drop an empty group."""
    files.withdraw(db, member.user_id, files.files_of_group(db, group.id))
    db.delete(member)
    db.flush()
    if group.admin_id != member.user_id:
        return
    heir = db.scalar(
        select(Membership.user_id)
        .where(Membership.group_id == group.id)
        .order_by(Membership.id)
        .limit(1)
    )
    if heir is None:
        db.delete(group)  # its requests (and any file left) go by ON DELETE CASCADE
    else:
        group.admin_id = heir
    db.flush()


def list_requests(db: Session, user_id: str, group_id: str) -> list[RequestView]:
    require_admin(db, group_id, user_id)
    rows = db.scalars(
        select(JoinRequest)
        .where(JoinRequest.group_id == group_id)
        .order_by(JoinRequest.requested_at, JoinRequest.user_id)
    )
    return [RequestView(r.user_id, r.requested_at) for r in rows]


def _require_request(db: Session, group_id: str, user_id: str) -> JoinRequest:
    request = _pending(db, group_id, user_id)
    if request is None:
        raise NotFound(
            f"no pending request from '{user_id}' for '{group_id}'", code="no_such_request"
        )
    return request


def accept_request(
    db: Session, admin_id: str, group_id: str, user_id: str, *, now: datetime
) -> MemberView:
    require_admin(db, group_id, admin_id, lock=True)
    db.delete(_require_request(db, group_id, user_id))
    db.add(Membership(group_id=group_id, user_id=user_id, joined_at=now))
    db.flush()
    return MemberView(user_id, is_admin=False, joined_at=now)


def reject_request(db: Session, admin_id: str, group_id: str, user_id: str) -> None:
    require_admin(db, group_id, admin_id, lock=True)
    db.delete(_require_request(db, group_id, user_id))
    db.flush()


def list_members(db: Session, user_id: str, group_id: str) -> list[MemberView]:
    group = require_member(db, group_id, user_id)
    rows = db.scalars(
        select(Membership).where(Membership.group_id == group_id).order_by(Membership.id)
    )
    return [MemberView(m.user_id, m.user_id == group.admin_id, m.joined_at) for m in rows]


def remove_member(db: Session, admin_id: str, group_id: str, user_id: str) -> None:
    group = require_admin(db, group_id, admin_id, lock=True)
    if user_id == admin_id:
        raise Invalid("use leave_group to leave your own group", code="remove_self")
    member = membership(db, group_id, user_id)
    if member is None:
        raise NotFound(f"'{user_id}' is not a member of '{group_id}'", code="no_such_member")
    _end_membership(db, group, member)
