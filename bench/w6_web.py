"""W6: the web group page of a big group (1,000 files, 200 members) under wrk, beside the
JSON API's list of the same files."""

from __future__ import annotations

import hashlib
import os
import re
from base64 import b64encode

import httpx
from fastbencode import bencode  # type: ignore[attr-defined]

from bench.common import BenchError, Context, Missing, Row, Target, cpu_seconds, need_tool, pin
from bench.peers import GROUP, Group
from bench.w4_tracker import wrk
from minitorrent.tracker.web.group_cache import PAGE_ROWS

FILES = 1000
MEMBERS = 200
CONNECTIONS = 10
PIECE = 16384
PASSWORD = "bench-password"


def _info(name: str) -> bytes:
    """A private one-piece info dictionary of the group (its content never travels)."""
    data = name.encode() * 3
    return bytes(
        bencode(
            {
                b"length": len(data),
                b"name": name.encode(),
                b"piece length": PIECE,
                b"pieces": hashlib.sha1(data).digest(),
                b"private": 1,
                b"source": GROUP.encode(),
            }
        )
    )


def _check(answer: httpx.Response, what: str) -> httpx.Response:
    if answer.is_error:
        raise BenchError(f"{what}: HTTP {answer.status_code} {answer.text[:200]}")
    return answer


def _api_session(api: httpx.Client, user: str) -> str:
    """Create the user and log in; the session token."""
    body = {"user_id": user, "password": PASSWORD}
    _check(api.post("/users", json=body), f"creating {user}")
    token: str = _check(api.post("/sessions", json=body), f"logging {user} in").json()["token"]
    return token


def populate(base: str) -> str:
    """The admin's session token, once the group has its members and files."""
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as api:
        admin = {"Authorization": f"Bearer {_api_session(api, 'admin')}"}
        _check(api.post("/groups", json={"group_id": GROUP}, headers=admin), "creating the group")
        for n in range(1, MEMBERS):
            user = f"member{n:03}"
            member = {"Authorization": f"Bearer {_api_session(api, user)}"}
            _check(api.post(f"/groups/{GROUP}/requests", headers=member), f"{user} joining")
            _check(
                api.post(f"/groups/{GROUP}/requests/{user}/accept", headers=admin),
                f"accepting {user}",
            )
        for n in range(FILES):
            body = {"info": b64encode(_info(f"file-{n:04}.bin")).decode(), "sha1": "0" * 40}
            _check(api.post(f"/groups/{GROUP}/files", json=body, headers=admin), "sharing")
        return admin["Authorization"].removeprefix("Bearer ")


def check_page(base: str, cookie: str) -> None:
    """The page the load asks for must be the group page's first page of files (the
    page says how many there are in all) with every member."""
    page = httpx.get(f"{base}/group?id={GROUP}", headers={"Cookie": cookie}, timeout=30)
    rows = len(re.findall(r"<tr data-ih=", page.text))
    members = page.text.count("since ")
    if (
        page.status_code != 200
        or rows != PAGE_ROWS
        or f"of {FILES}, page 1 of {FILES // PAGE_ROWS}" not in page.text
        or members < MEMBERS
    ):
        raise BenchError(f"the group page answered {page.status_code} with {rows} files")


def run(ctx: Context) -> list[Row]:
    label = f"W6 web group page ({FILES:,} files, {MEMBERS} members), {CONNECTIONS} connections"
    p99 = Row(label, "p99 latency, ms", "JSON file list", "lower", Target("minitorrent", "≤", 50))
    rps = Row(label, "pages/s", "JSON file list", "higher")
    # The tracker's CPU per answer: unlike p99 it hardly moves with the machine's other load.
    cpu = Row(label, "tracker CPU per answer, ms", "JSON file list", "lower")
    try:
        wrk_path = need_tool("wrk", "wrk")
    except Missing as exc:
        if not ctx.quick:
            raise
        p99.error = rps.error = cpu.error = str(exc)
        return [p99, rps, cpu]
    group = Group(ctx, ctx.tmp / "w6")
    host, port = group.info_file.read_text().split()
    base = f"http://{host}:{port}"
    token = populate(base)
    cookie = f"minitorrent_session={token}"
    check_page(base, cookie)
    pinned = (os.cpu_count() or 1) >= 2
    load_cpu = 1 if pinned else None
    if pinned:
        pin(group.tracker.popen.pid, {0})
    targets = {
        "web": (f"{base}/group?id={GROUP}", (f"Cookie: {cookie}",)),
        "json": (f"{base}/api/v1/groups/{GROUP}/files", (f"Authorization: Bearer {token}",)),
    }
    for url, headers in targets.values():  # warm-up
        wrk(wrk_path, url, CONNECTIONS, 1, load_cpu, headers)
    for run_no in range(ctx.runs):
        for who, (url, headers) in targets.items():
            before = cpu_seconds(group.tracker.popen.pid)
            load = wrk(wrk_path, url, CONNECTIONS, ctx.sizes.w4_seconds, load_cpu, headers)
            used = cpu_seconds(group.tracker.popen.pid) - before
            if load.errors:
                raise BenchError(f"wrk errors on the {who} list: {load.errors}")
            (p99.mine if who == "web" else p99.ref).append(load.p99_ms)
            (rps.mine if who == "web" else rps.ref).append(load.rps)
            answers = max(1.0, load.rps * ctx.sizes.w4_seconds)
            per_answer = 1000 * (used.user + used.kernel) / answers
            (cpu.mine if who == "web" else cpu.ref).append(per_answer)
        ctx.log(
            f"w6 run {run_no + 1}/{ctx.runs}: page p99 {p99.mine[-1]:.1f} ms "
            f"({rps.mine[-1]:.0f}/s, {cpu.mine[-1]:.2f} ms CPU), JSON p99 {p99.ref[-1]:.1f} ms "
            f"({rps.ref[-1]:.0f}/s, {cpu.ref[-1]:.2f} ms CPU), load average "
            f"{os.getloadavg()[0]:.1f}"
        )
    ctx.notes.append(
        f"W6: one tracker (SQLite, {'pinned to CPU 0, wrk to CPU 1' if pinned else 'unpinned'})"
        f" with a group of {MEMBERS} members and {FILES:,} files, registered through the JSON "
        f"API; wrk -t1 -c{CONNECTIONS} -d{ctx.sizes.w4_seconds}s on the admin's group page "
        "(`GET /group?id=...` with the session cookie: the first page of "
        f"{PAGE_ROWS} files with sharers and counts, join requests, all members) and, as "
        f"the reference, on the JSON API's `GET /api/v1/groups/{GROUP}/files` with the "
        "same session. The page is checked to hold its files and every member before the "
        "load. CPU per answer: the tracker process's user and kernel CPU over the run "
        "divided by the answers wrk counted."
    )
    return [p99, rps, cpu]
