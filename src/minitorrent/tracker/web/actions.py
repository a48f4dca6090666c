"""The forms (POST), each refused without its CSRF token (auth.require_csrf); then the
same service rules as the JSON API, and a redirect to the page to look at next."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response

from minitorrent.tracker.api import credentials
from minitorrent.tracker.api.deps import DB, Context, client_ip, db_endpoint
from minitorrent.tracker.api.errors import STATUS
from minitorrent.tracker.services import accounts, groups, users
from minitorrent.tracker.services.errors import DomainError
from minitorrent.tracker.services.ids import MAX_PASSWORD
from minitorrent.tracker.web.auth import (
    PRE_COOKIE,
    SESSION_COOKIE,
    Csrf,
    WebCaller,
    drop_cookie,
    set_cookie,
)
from minitorrent.tracker.web.pages import login_form
from minitorrent.tracker.web.render import page, redirect

router = APIRouter(include_in_schema=False, dependencies=[Csrf])
UserId = Annotated[str, Form(max_length=64)]
GroupId = Annotated[str, Form(max_length=64)]
Password = Annotated[str, Form(max_length=MAX_PASSWORD)]


def group_url(group_id: str) -> str:
    return "/group?" + urlencode({"id": group_id})


def _signed_in(request: Request, token: str) -> Response:
    response = redirect("/groups")
    set_cookie(request, response, SESSION_COOKIE, token)
    drop_cookie(request, response, PRE_COOKIE)
    return response


def _signed_out(request: Request) -> Response:
    response = redirect("/login")
    drop_cookie(request, response, SESSION_COOKIE)
    return response


# -- signing in and out: the API's flow (api/credentials.py), argon2 off the database slot


def _refused(request: Request, exc: DomainError, user_id: str) -> Response:
    """The sign-in page again, saying why (wrong password, too many attempts...)."""
    response = login_form(
        request, status=STATUS.get(type(exc), 400), error=exc.message, user_id=user_id
    )
    if hasattr(exc, "retry_after"):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.post("/login")
async def login(
    request: Request, user_id: UserId, password: Password, context: Context
) -> Response:
    try:
        result = await credentials.sign_in(context, user_id, password, client_ip(request))
    except DomainError as exc:
        return _refused(request, exc, user_id)
    return _signed_in(request, result.token)


@router.post("/signup")
async def signup(
    request: Request, user_id: UserId, password: Password, context: Context
) -> Response:
    try:
        await credentials.sign_up(context, user_id, password, client_ip(request))
        result = await credentials.sign_in(context, user_id, password, client_ip(request))
    except DomainError as exc:
        return _refused(request, exc, user_id)
    return _signed_in(request, result.token)


@router.post("/logout")
@db_endpoint
def logout(request: Request, caller: WebCaller, db: DB) -> Response:
    users.logout(db, caller.session_id)  # the caches forget it on commit (services/changes.py)
    return _signed_out(request)


# -- groups ----------------------------------------------------------------------------


@router.post("/groups/create")
@db_endpoint
def create_group(group_id: GroupId, caller: WebCaller, context: Context, db: DB) -> Response:
    groups.create_group(db, caller.user_id, group_id, now=context.clock())
    return redirect(group_url(group_id))


@router.post("/groups/join")
@db_endpoint
def join_group(group_id: GroupId, caller: WebCaller, context: Context, db: DB) -> Response:
    groups.request_join(db, caller.user_id, group_id, now=context.clock())
    return redirect("/groups")


@router.post("/groups/leave")
@db_endpoint
def leave_group(group_id: GroupId, caller: WebCaller, context: Context, db: DB) -> Response:
    """Leave, or withdraw a pending request."""
    groups.leave_group(db, caller.user_id, group_id, now=context.clock())
    return redirect("/groups")


def _admin_form(path: str, rule: Callable[..., object]) -> None:
    """POST `path` (group_id, user_id): the admin's rule on that user, then the group."""

    @router.post(path)
    @db_endpoint
    def answer(
        group_id: GroupId, user_id: UserId, caller: WebCaller, context: Context, db: DB
    ) -> Response:
        rule(db, caller.user_id, group_id, user_id, now=context.clock())
        return redirect(group_url(group_id))


_admin_form("/group/accept", groups.accept_request)
_admin_form("/group/reject", groups.reject_request)
_admin_form("/group/remove", groups.remove_member)


# -- my account ------------------------------------------------------------------------


@router.post("/account/passkey")
@db_endpoint
def rotate_passkey(caller: WebCaller, db: DB) -> Response:
    users.rotate_passkey(db, caller.user_id)
    return redirect("/account?show=passkey")


@router.post("/account/signout-all")
@db_endpoint
def sign_out_everywhere(request: Request, caller: WebCaller, db: DB) -> Response:
    accounts.end_all_sessions(db, caller.user_id)
    return _signed_out(request)


@router.post("/account/password")
async def change_password(
    request: Request,
    old: Password,
    new: Password,
    again: Password,
    caller: WebCaller,
    context: Context,
) -> Response:
    """argon2 holds no database slot here either (api/credentials.py)."""
    if new != again:
        return page(
            request,
            "error.html",
            status=400,
            title="That did not work",
            message="the two new passwords differ; nothing was changed",
        )
    await credentials.change_password(context, caller, old, new, client_ip(request))
    return redirect("/account")
