"""A group's activity log (members only), newest first, a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from minitorrent.tracker.api.deps import DB, Caller, db_endpoint
from minitorrent.tracker.services import activity

router = APIRouter(prefix="/groups/{group_id}/log", tags=["groups"])


class EventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str  # a user id or a file name; "" when the actor is the subject
    text: str  # the line as a person reads it


@router.get("")
@db_endpoint
def group_log(
    group_id: str,
    caller: Caller,
    db: DB,
    before: Annotated[int | None, Query(ge=1, description="an event id: older ones")] = None,
    limit: Annotated[int, Query(ge=1, le=activity.MAX_PAGE)] = activity.DEFAULT_PAGE,
) -> list[EventOut]:
    events = activity.group_log(db, caller.user_id, group_id, before=before, limit=limit)
    return [EventOut(**vars(event), text=event.text) for event in events]
