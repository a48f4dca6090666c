"""What a transaction changed, told to whoever remembers it once the transaction commits.

The announce registry answers most announces from memory without asking whether the
peer still belongs there, and the tracker remembers sessions and passkeys. So whatever
deletes peers (ending a share, a membership, a session) or changes a passkey records
it here, in the same service function that makes the change, and the database hands the
records to its listeners after the commit (db.Database.on_commit) or drops them on a
rollback. A new way to end peers cannot forget to tell the registry as long as it ends
them through these services. Likewise every change a group's web page shows (a file, a
sharer, a member, a request) records GroupChanged: activity.record does it for every
logged change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

_KEY = "minitorrent.changes"


@dataclass(frozen=True)
class SharesEnded:
    """The user's peers of `file_ids` ended; `files_gone` were deleted with all theirs."""

    user_id: str
    file_ids: frozenset[int]
    files_gone: frozenset[int]


@dataclass(frozen=True)
class SessionsEnded:
    """These sessions (of these users) ended, with every peer they announced."""

    session_ids: frozenset[int]
    user_ids: frozenset[str]


@dataclass(frozen=True)
class PasskeyChanged:
    """The user's old passkey no longer announces."""

    user_id: str


@dataclass(frozen=True)
class GroupChanged:
    """A file, sharer, member, admin or join request of the group changed: what the
    web keeps of its page is out of date (tracker/web/group_cache.py)."""

    group_id: str


Change = SharesEnded | SessionsEnded | PasskeyChanged | GroupChanged


def record(db: Session, change: Change) -> None:
    db.info.setdefault(_KEY, []).append(change)


def take(db: Session) -> list[Change]:
    """The changes recorded since the last take, forgotten here."""
    changes: list[Change] = db.info.pop(_KEY, [])
    return changes
