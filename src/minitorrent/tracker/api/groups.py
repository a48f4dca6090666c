"""Groups, join requests and members."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from minitorrent.tracker.api.deps import DB, Caller, Context, db_endpoint
from minitorrent.tracker.api.lists import JsonList
from minitorrent.tracker.services import groups

router = APIRouter(prefix="/groups", tags=["groups"])
NO_CONTENT = status.HTTP_204_NO_CONTENT


class NewGroup(BaseModel):
    group_id: str


class GroupOut(BaseModel):
    group_id: str
    admin: str
    members: int
    is_member: bool
    is_admin: bool
    pending: bool  # the caller has a pending join request


class RequestOut(BaseModel):
    user_id: str
    requested_at: datetime


class MemberOut(BaseModel):
    user_id: str
    is_admin: bool
    joined_at: datetime


GROUPS = JsonList(groups.GroupView, GroupOut)
REQUESTS = JsonList(groups.RequestView, RequestOut)
MEMBERS = JsonList(groups.MemberView, MemberOut)


class LeaveOut(BaseModel):
    group_id: str
    status: Literal["left", "withdrawn"]


@router.post("", status_code=status.HTTP_201_CREATED)
@db_endpoint
def create_group(body: NewGroup, caller: Caller, context: Context, db: DB) -> GroupOut:
    view = groups.create_group(db, caller.user_id, body.group_id, now=context.clock())
    return GroupOut.model_validate(view, from_attributes=True)


@router.get("", response_model=list[GroupOut])
@db_endpoint
def list_groups(caller: Caller, db: DB) -> Response:
    return GROUPS.response(groups.list_groups(db, caller.user_id))


@router.post("/{group_id}/requests", status_code=status.HTTP_201_CREATED)
@db_endpoint
def request_join(group_id: str, caller: Caller, context: Context, db: DB) -> RequestOut:
    view = groups.request_join(db, caller.user_id, group_id, now=context.clock())
    return RequestOut.model_validate(view, from_attributes=True)


@router.get("/{group_id}/requests", response_model=list[RequestOut])
@db_endpoint
def list_requests(group_id: str, caller: Caller, db: DB) -> Response:
    return REQUESTS.response(groups.list_requests(db, caller.user_id, group_id))


@router.post("/{group_id}/requests/{user_id}/accept")
@db_endpoint
def accept_request(
    group_id: str, user_id: str, caller: Caller, context: Context, db: DB
) -> MemberOut:
    view = groups.accept_request(db, caller.user_id, group_id, user_id, now=context.clock())
    return MemberOut.model_validate(view, from_attributes=True)


@router.post("/{group_id}/requests/{user_id}/reject", status_code=NO_CONTENT)
@db_endpoint
def reject_request(
    group_id: str, user_id: str, caller: Caller, context: Context, db: DB
) -> Response:
    groups.reject_request(db, caller.user_id, group_id, user_id, now=context.clock())
    return Response(status_code=NO_CONTENT)


@router.get("/{group_id}/members", response_model=list[MemberOut])
@db_endpoint
def list_members(group_id: str, caller: Caller, db: DB) -> Response:
    return MEMBERS.response(groups.list_members(db, caller.user_id, group_id))


# The caller's own membership has its own path: under /members/{user_id} every segment
# is a user id ("me" is the user named "me"), never an alias of the caller.
@router.delete("/{group_id}/membership")
@db_endpoint
def leave_group(group_id: str, caller: Caller, context: Context, db: DB) -> LeaveOut:
    """Leave the group, or withdraw a pending join request."""
    status = groups.leave_group(db, caller.user_id, group_id, now=context.clock())
    return LeaveOut(group_id=group_id, status=status)


@router.delete("/{group_id}/members/{user_id}", status_code=NO_CONTENT)
@db_endpoint
def remove_member(
    group_id: str, user_id: str, caller: Caller, context: Context, db: DB
) -> Response:
    groups.remove_member(db, caller.user_id, group_id, user_id, now=context.clock())
    return Response(status_code=NO_CONTENT)
