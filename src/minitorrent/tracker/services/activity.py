"""A group's activity log: written by the group and file rules, read by its members.

The rules call `record` in the transaction of the change itself, so the log holds
exactly the changes that committed, whichever way they came (shell, API, web).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.models import GroupEvent
from minitorrent.tracker.services import changes
from minitorrent.tracker.services.access import require_member
from minitorrent.tracker.services.errors import Invalid
from minitorrent.tracker.services.sql import run

DEFAULT_PAGE = 50
MAX_PAGE = 200

# action -> how it reads; {actor} and {subject} are a user id or a file name.
ACTIONS: dict[str, str] = {
    "created": "{actor} created the group",
    "requested": "{actor} asked to join",
    "withdrew": "{actor} withdrew their request to join",
    "accepted": "{actor} accepted {subject}",
    "rejected": "{actor} rejected {subject}",
    "removed": "{actor} removed {subject}",
    "left": "{actor} left",
    "became_admin": "{subject} became admin",
    "shared": "{actor} shared {subject}",
    "unshared": "{actor} stopped sharing {subject}",
    "file_removed": "{subject} is gone: nobody shares it any more",
}


@dataclass(frozen=True)
class EventView:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str

    @property
    def text(self) -> str:
        """One plain sentence (not escaped: the web's templates escape it)."""
        return ACTIONS[self.action].format(actor=self.actor, subject=self.subject)


# Prebuilt statements (services/sql.run).
_RECORD = insert(GroupEvent).values(
    group_id=bindparam("group_id"),
    at=bindparam("now"),
    actor=bindparam("actor"),
    action=bindparam("action"),
    subject=bindparam("subject"),
)
_COLUMNS = (GroupEvent.id, GroupEvent.at, GroupEvent.actor, GroupEvent.action, GroupEvent.subject)
_NEWEST = (
    select(*_COLUMNS)
    .where(GroupEvent.group_id == bindparam("group_id"))
    .order_by(GroupEvent.id.desc())
    .limit(bindparam("limit"))
)
_OLDER = _NEWEST.where(GroupEvent.id < bindparam("before"))


def record(
    db: Session, group_id: str, actor: str, action: str, subject: str = "", *, now: datetime
) -> None:
    assert action in ACTIONS, action  # a typo here would log nonsense for ever
    run(db, _RECORD, group_id=group_id, now=now, actor=actor, action=action, subject=subject)
    changes.record(db, changes.GroupChanged(group_id))  # every logged change shows on its page


def group_log(
    db: Session, user_id: str, group_id: str, *, before: int | None = None, limit: int | None = None
) -> list[EventView]:
    """Newest first; `before`: an event id, for the next (older) page."""
    require_member(db, group_id, user_id)
    limit = DEFAULT_PAGE if limit is None else limit
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be 1 to {MAX_PAGE}", code=ErrorCode.BAD_LIMIT)
    if before is None:
        rows = run(db, _NEWEST, group_id=group_id, limit=limit)
    else:
        rows = run(db, _OLDER, group_id=group_id, limit=limit, before=before)
    return [EventView(*row) for row in rows]
