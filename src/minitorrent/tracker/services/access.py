"""Who may touch a group: the checks every group-scoped rule starts with.

Order everywhere: the group exists (NotFound), then membership or admin (Forbidden).

Rules that change a group pass lock=True: SELECT ... FOR UPDATE on the group row makes
changes to one group take turns. On PostgreSQL several trackers write at once (READ
COMMITTED), and e.g. the last two members leaving together through two trackers
would otherwise leave a group with no member. SQLite ignores it: BEGIN IMMEDIATE
already lets one writer in at a time.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from minitorrent.tracker.models import Group, Membership
from minitorrent.tracker.services.errors import Forbidden, NotFound


def require_group(db: Session, group_id: str, *, lock: bool = False) -> Group:
    group = db.get(Group, group_id, with_for_update=lock or None)
    if group is None:
        raise NotFound(f"no such group '{group_id}'", code="no_such_group")
    return group


def membership(db: Session, group_id: str, user_id: str) -> Membership | None:
    return db.scalar(
        select(Membership).where(Membership.group_id == group_id, Membership.user_id == user_id)
    )


def require_member(db: Session, group_id: str, user_id: str, *, lock: bool = False) -> Group:
    group = require_group(db, group_id, lock=lock)
    if membership(db, group_id, user_id) is None:
        raise Forbidden(f"not a member of '{group_id}'", code="not_member")
    return group


def require_admin(db: Session, group_id: str, user_id: str, *, lock: bool = False) -> Group:
    group = require_group(db, group_id, lock=lock)
    if group.admin_id != user_id:
        raise Forbidden(f"only the admin of '{group_id}' can do that", code="not_admin")
    return group
