"""The pages (GET): sign-in, my groups, a group, its log, my account; the group's live
counts as JSON for the page's script; the .torrent and magnet link of a file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from minitorrent.metainfo import InfoDict, magnet_of, private_announce_urls, private_torrent
from minitorrent.tracker.api.deps import DB, Context, db_endpoint
from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.services import accounts, activity, files, groups, users
from minitorrent.tracker.web.auth import SESSION_COOKIE, WebCaller, csrf_token, with_pre_session
from minitorrent.tracker.web.group_cache import GroupPages
from minitorrent.tracker.web.render import HEADERS, page, redirect

router = APIRouter(include_in_schema=False)
GroupId = Annotated[str, Query(alias="id", max_length=64)]
FileName = Annotated[str, Query(alias="file", max_length=1024)]
LIVE_EVERY_MS = 3000  # how often the group page asks for its counts


def tracker_urls(context: TrackerContext, request: Request) -> list[str]:
    """Every tracker's base URL, as the shell's tracker_info.txt lists them."""
    return list(context.settings.tracker_urls) or [str(request.base_url).rstrip("/")]


@router.get("/")
def home(request: Request) -> Response:
    return redirect("/groups" if request.cookies.get(SESSION_COOKIE) else "/login")


def login_form(
    request: Request, *, status: int = 200, error: str | None = None, user_id: str = ""
) -> Response:
    """Sign in / create an account; `error` says why the last try failed."""
    return with_pre_session(
        request,
        lambda: page(request, "login.html", status=status, error=error, user_id=user_id),
    )


@router.get("/login")
def login_page(request: Request) -> Response:
    return login_form(request)


@router.get("/groups")
@db_endpoint
def my_groups(request: Request, caller: WebCaller, db: DB) -> Response:
    views = groups.list_groups(db, caller.user_id)
    return page(
        request,
        "groups.html",
        user=caller.user_id,
        mine=[g for g in views if g.is_member],
        pending=[g for g in views if g.pending],
        others=[g for g in views if not g.is_member and not g.pending],
    )


def group_pages(request: Request) -> GroupPages:
    pages: GroupPages = request.app.state.group_pages  # made by web.install
    return pages


@router.get("/group")
async def group(
    request: Request,
    group_id: GroupId,
    caller: WebCaller,
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> Response:
    """A page of PAGE_ROWS files with the members, from memory (web/group_cache.py);
    a page past the last shows the last. Rendering a page not yet in memory takes tens
    of milliseconds: in a worker thread, off the event loop."""
    pages = group_pages(request)
    snapshot = await pages.snapshot(caller.user_id, group_id)
    counts = await pages.counts(caller.user_id, snapshot)
    page_no = min(page_no, snapshot.pages)
    admin = caller.user_id == snapshot.data.admin_id
    view = snapshot.rendered(page_no, admin)
    if view is None:
        view = await run_in_threadpool(snapshot.render, page_no, admin, LIVE_EVERY_MS)
    html = view.fill(csrf=csrf_token(request), user_id=caller.user_id, counts=counts)
    return HTMLResponse(html, headers=HEADERS)


@router.get("/group/live")
async def live_counts(request: Request, group_id: GroupId, caller: WebCaller) -> Response:
    """{info_hash: [seeders, downloading, completed]} for the group page's script."""
    pages = group_pages(request)
    snapshot = await pages.snapshot(caller.user_id, group_id)  # members only
    counts = await pages.counts(caller.user_id, snapshot)
    return JSONResponse(counts, headers={"Cache-Control": "no-store"})


@router.get("/group/log")
@db_endpoint
def group_log(
    request: Request,
    group_id: GroupId,
    caller: WebCaller,
    db: DB,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    events = activity.group_log(db, caller.user_id, group_id, before=before)
    return page(
        request,
        "log.html",
        user=caller.user_id,
        group_id=group_id,
        events=events,
        older=events[-1].id if len(events) == activity.DEFAULT_PAGE else None,
    )


@dataclass(frozen=True)
class FileRef:
    group_id: str
    name: str


def file_ref(group_id: GroupId, name: FileName) -> FileRef:
    """?id=<group>&file=<name>: a file of a group."""
    return FileRef(group_id, name)


File = Annotated[FileRef, Depends(file_ref)]


@router.get("/group/torrent")
@db_endpoint
def torrent(request: Request, ref: File, caller: WebCaller, context: Context, db: DB) -> Response:
    """The same bytes as the shell's export_torrent: this user's passkey, every tracker."""
    details = files.get_file(db, caller.user_id, ref.group_id, ref.name, now=context.clock())
    passkey = users.passkey_of(db, caller.user_id)
    data = private_torrent(InfoDict.decode(details.info), tracker_urls(context, request), passkey)
    filename = f"{details.info_hash}.torrent"  # a name any browser saves as it is
    headers = HEADERS | {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(data, media_type="application/x-bittorrent", headers=headers)


@router.get("/group/magnet")
@db_endpoint
def magnet(request: Request, ref: File, caller: WebCaller, context: Context, db: DB) -> Response:
    """A page with the link to copy; JSON for the group page's copy button."""
    details = files.get_file(db, caller.user_id, ref.group_id, ref.name, now=context.clock())
    urls = private_announce_urls(
        tracker_urls(context, request), users.passkey_of(db, caller.user_id)
    )
    link = magnet_of(details.info_hash, details.name, details.length, urls)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"magnet": link}, headers=HEADERS)
    return page(request, "magnet.html", user=caller.user_id, file=ref, link=link)


@router.get("/account")
@db_endpoint
def account(
    request: Request,
    caller: WebCaller,
    db: DB,
    show: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The passkey only when asked (?show=passkey): not on every look at the page."""
    return page(
        request,
        "account.html",
        user=caller.user_id,
        passkey=users.passkey_of(db, caller.user_id) if show == "passkey" else None,
        sessions=accounts.list_sessions(db, caller.user_id),
        current=caller.session_id,
    )
