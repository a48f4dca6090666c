"""The forms (POST), each refused without its CSRF token (auth.require_csrf); then the
same service rules as the JSON API, and a redirect to the page to look at next."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response

from minitorrent.tracker.api import credentials
from minitorrent.tracker.api.deps import DB, Context, after_commit, db_endpoint, forget_member
from minitorrent.tracker.api.errors import STATUS
from minitorrent.tracker.context import TrackerContext
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


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _signed_in(request: Request, token: str) -> Response:
    response = redirect("/groups")
    set_cookie(request, response, SESSION_COOKIE, token)
    drop_cookie(request, response, PRE_COOKIE)
    return response


def _signed_out(request: Request) -> Response:
    response = redirect("/login")
    drop_cookie(request, response, SESSION_COOKIE)
    return response


def _forget_user(context: TrackerContext, db: DB, user_id: str) -> None:
    """After ending sessions of the user: the caches forget them once it commits."""

    def forget() -> None:
        context.sessions.forget(lambda caller: caller.user_id == user_id)
        context.swarms.forget_user(user_id)

    after_commit(db, forget)


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
        result = await credentials.sign_in(context, user_id, password, _ip(request))
    except DomainError as exc:
        return _refused(request, exc, user_id)
    return _signed_in(request, result.token)


@router.post("/signup")
async def signup(
    request: Request, user_id: UserId, password: Password, context: Context
) -> Response:
    try:
        await credentials.sign_up(context, user_id, password, _ip(request))
        result = await credentials.sign_in(context, user_id, password, _ip(request))
    except DomainError as exc:
        return _refused(request, exc, user_id)
    return _signed_in(request, result.token)


@router.post("/logout")
@db_endpoint
def logout(request: Request, caller: WebCaller, context: Context, db: DB) -> Response:
    users.logout(db, caller.session_id)

    def forget() -> None:
        context.sessions.forget(lambda other: other.session_id == caller.session_id)
        context.swarms.forget_user(caller.user_id)

    after_commit(db, forget)
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
    forget_member(context, db, group_id, caller.user_id)
    return redirect("/groups")


def _admin_form(path: str, rule: Callable[..., object], *, ends_membership: bool) -> None:
    """POST `path` (group_id, user_id): the admin's rule on that user, then the group."""

    @router.post(path)
    @db_endpoint
    def answer(
        group_id: GroupId, user_id: UserId, caller: WebCaller, context: Context, db: DB
    ) -> Response:
        rule(db, caller.user_id, group_id, user_id, now=context.clock())
        if ends_membership:
            forget_member(context, db, group_id, user_id)
        return redirect(group_url(group_id))


_admin_form("/group/accept", groups.accept_request, ends_membership=False)
_admin_form("/group/reject", groups.reject_request, ends_membership=False)
_admin_form("/group/remove", groups.remove_member, ends_membership=True)


# -- my account ------------------------------------------------------------------------


@router.post("/account/passkey")
@db_endpoint
def rotate_passkey(caller: WebCaller, context: Context, db: DB) -> Response:
    users.rotate_passkey(db, caller.user_id)
    after_commit(db, lambda: context.passkeys.forget(lambda user_id: user_id == caller.user_id))
    return redirect("/account?show=passkey")


@router.post("/account/signout-all")
@db_endpoint
def sign_out_everywhere(request: Request, caller: WebCaller, context: Context, db: DB) -> Response:
    accounts.end_all_sessions(db, caller.user_id)
    _forget_user(context, db, caller.user_id)
    return _signed_out(request)


@router.post("/account/password")
def change_password(
    request: Request,
    old: Password,
    new: Password,
    again: Password,
    context: Context,
    db: DB,
) -> Response:
    """`def` with DB: argon2 in a worker thread; the caller is looked up in the same
    transaction (see api/deps.get_db on why not a WebCaller)."""
    caller = users.authenticate(
        db,
        request.cookies.get(SESSION_COOKIE) or "",
        now=context.clock(),
        idle_ttl=context.idle_ttl,
        touch_interval=timedelta(seconds=context.settings.session_touch_interval),
    )
    if new != again:
        return page(
            request,
            "error.html",
            status=400,
            title="That did not work",
            message="the two new passwords differ; nothing was changed",
        )
    ended = accounts.change_password(
        db,
        caller.user_id,
        caller.session_id,
        old,
        new,
        hasher=context.hasher,
        throttle=context.throttle,
        ip=_ip(request),
    )
    if ended:
        _forget_user(context, db, caller.user_id)
    return redirect("/account")
