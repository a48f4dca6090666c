"""Typed async client of the tracker's JSON API, with failover across trackers.

Trackers are tried in the order of tracker_info.txt. A tracker that refuses
the connection, times out or answers 5xx is skipped for a while; requests
that are safe to repeat go to the next one at once. Sessions live in the
trackers' shared database, so the token stays valid on every tracker.
"""

from __future__ import annotations

import base64
import json as jsonlib
import ssl
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from minitorrent import __version__
from minitorrent.error_codes import ErrorCode
from minitorrent.errors import TrackerRefused, TrackerUnreachable, UsageError
from minitorrent.ids import id_problem, name_problem
from minitorrent.peer.http_client import HttpClient, HttpError, Request, Transport
from minitorrent.peer.tracker_answers import (
    Fields,
    FileEntry,
    GroupEntry,
    JoinRequest,
    LogEntry,
    LoginAnswer,
    Me,
    MemberEntry,
    decode,
    objects,
)
from minitorrent.trackers import TrackerAddress

API = "/api/v1"
# A failed tracker is left alone this long before requests return to it.
RETRY_FAILED_AFTER = 15.0


@dataclass(frozen=True, slots=True)
class PeerAddress:
    peer_id: bytes
    ip: str
    port: int
    seed: bool
    user_id: str = ""  # whose peer it is, when the tracker says


@dataclass(frozen=True, slots=True)
class AnnounceResult:
    interval: int
    peers: list[PeerAddress]
    seeders: int
    leechers: int


@dataclass(frozen=True, slots=True)
class Standing:
    """What this process knows of one tracker."""

    answered: bool  # it has answered a request of ours
    failed: bool  # our last request to it failed
    retry_in: float  # failed: seconds until it is tried first again (0: at the next request)


class TrackerClient:
    def __init__(
        self,
        trackers: Sequence[TrackerAddress],
        *,
        timeout: float = 10.0,
        clock: Any = time.monotonic,
        transport: Transport | None = None,  # tests inject failures here
        verify: ssl.SSLContext | None = None,  # https:// trackers: whom to trust (None: system CAs)
    ) -> None:
        self.trackers = list(trackers)
        self.token: str | None = None
        self._clock = clock
        self._failed_at: dict[int, float] = {}
        self.last_answered: int | None = None  # index of the tracker that answered last
        self._answered: set[int] = set()  # indexes of the trackers that ever answered
        self._http: Transport = transport or HttpClient(
            timeout=timeout,
            connect_timeout=min(timeout, 3.0),
            ssl_context=verify,
            user_agent=f"minitorrent/{__version__}",
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- transport -------------------------------------------------------

    def _order(self) -> list[int]:
        """Healthy trackers first, in file order; recently failed ones last."""
        now = self._clock()
        healthy = [
            i
            for i in range(len(self.trackers))
            if now - self._failed_at.get(i, -RETRY_FAILED_AFTER) >= RETRY_FAILED_AFTER
        ]
        return healthy + [i for i in range(len(self.trackers)) if i not in healthy]

    @property
    def current(self) -> TrackerAddress:
        return self.trackers[self._order()[0]]

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        idempotent: bool | None = None,
        done_if: Collection[ErrorCode] = (),
    ) -> Any:
        """Send one API request; return the decoded JSON body (None for 204).

        A request that never reached a tracker goes to the next one; so does an
        idempotent one whose tracker failed after it may have been sent. If the next
        tracker then refuses it with a code in `done_if` ("already exists", "no such
        request"...), the lost attempt did it: None is returned, not a confusing error.
        """
        if idempotent is None:
            idempotent = method in ("GET", "DELETE", "PUT")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = b""
        if json is not None:
            headers["Content-Type"] = "application/json"
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
        last_error = "no trackers configured"
        maybe_done = False  # an earlier attempt may have been carried out
        for index in self._order():
            tracker = self.trackers[index]
            try:
                response = await self._http.request(
                    Request(tracker, method, API + path, headers, body, replayable=idempotent)
                )
            except HttpError as exc:
                self._failed_at[index] = self._clock()
                last_error = f"{tracker}: {exc.reason}"
                if exc.never_sent:
                    continue
                if not idempotent:
                    raise TrackerUnreachable(f"tracker did not answer ({last_error})") from None
                maybe_done = True
                continue
            if response.status >= 500:
                self._failed_at[index] = self._clock()
                last_error = f"{tracker}: HTTP {response.status}"
                if not idempotent:
                    raise TrackerUnreachable(f"tracker failed ({last_error})")
                maybe_done = True
                continue
            self._failed_at.pop(index, None)
            self.last_answered = index
            self._answered.add(index)
            try:
                return decode(response)
            except TrackerRefused as exc:
                if maybe_done and exc.code in done_if:
                    return None
                raise
        raise TrackerUnreachable(f"no tracker answered (last: {last_error})")

    def health(self) -> list[float | None]:
        """Per tracker, in the file's order: seconds until it is tried first again
        after a failure, or None when it is in good standing."""
        return [s.retry_in if s.retry_in > 0 else None for s in self.standing()]

    def standing(self) -> list[Standing]:
        """Per tracker, in the file's order: answered, failed, when it is tried again."""
        now = self._clock()
        standings = []
        for index in range(len(self.trackers)):
            failed_at = self._failed_at.get(index)
            left = 0.0 if failed_at is None else failed_at + RETRY_FAILED_AFTER - now
            standings.append(
                Standing(index in self._answered, failed_at is not None, max(left, 0.0))
            )
        return standings

    # -- accounts and groups ------------------------------------------------

    async def create_user(self, user_id: str, password: str) -> None:
        _new_id("user", user_id)
        # Safe to repeat: a duplicate is refused, never created twice.
        await self.request(
            "POST",
            "/users",
            json={"user_id": user_id, "password": password},
            idempotent=True,
            done_if=(ErrorCode.USER_EXISTS,),
        )

    async def login(self, user_id: str, password: str) -> LoginAnswer:
        _user(user_id)
        # Safe to repeat: a session lost with its answer is never used and expires.
        body = await self.request(
            "POST", "/sessions", json={"user_id": user_id, "password": password}, idempotent=True
        )
        return LoginAnswer.parse(body)

    async def logout(self) -> None:
        await self.request("DELETE", "/sessions/current", done_if=(ErrorCode.NOT_LOGGED_IN,))

    async def me(self) -> Me:
        return Me.parse(await self.request("GET", "/me"))

    async def rotate_passkey(self) -> str:
        """A new passkey; the old one stops working. Returns the new one."""
        return Fields(await self.request("POST", "/me/passkey"), "passkey").text("passkey")

    async def create_group(self, group_id: str) -> None:
        _new_id("group", group_id)
        await self.request(
            "POST",
            "/groups",
            json={"group_id": group_id},
            idempotent=True,
            done_if=(ErrorCode.GROUP_EXISTS,),
        )

    async def list_groups(self) -> list[GroupEntry]:
        body = await self.request("GET", "/groups")
        return [GroupEntry.parse(f) for f in objects(body, "groups")]

    async def join_group(self, group_id: str) -> None:
        await self.request(
            "POST",
            f"/groups/{_group(group_id)}/requests",
            idempotent=True,
            done_if=(ErrorCode.REQUEST_PENDING,),
        )

    async def leave_group(self, group_id: str) -> str:
        """Return "left", or "withdrawn" when it was a pending join request."""
        body = await self.request(
            "DELETE", f"/groups/{_group(group_id)}/membership", done_if=(ErrorCode.NOT_MEMBER,)
        )
        return "left" if body is None else Fields(body, "leave").text("status")

    async def list_requests(self, group_id: str) -> list[JoinRequest]:
        body = await self.request("GET", f"/groups/{_group(group_id)}/requests")
        return [JoinRequest.parse(f) for f in objects(body, "requests")]

    async def answer_request(self, group_id: str, user_id: str, *, accept: bool) -> None:
        verb = "accept" if accept else "reject"
        await self.request(
            "POST",
            f"/groups/{_group(group_id)}/requests/{_user(user_id)}/{verb}",
            idempotent=True,
            done_if=(ErrorCode.NO_SUCH_REQUEST,),
        )

    async def list_members(self, group_id: str) -> list[MemberEntry]:
        body = await self.request("GET", f"/groups/{_group(group_id)}/members")
        return [MemberEntry.parse(f) for f in objects(body, "members")]

    async def group_log(self, group_id: str) -> list[LogEntry]:
        """The newest page of the group's activity log, newest first."""
        body = await self.request("GET", f"/groups/{_group(group_id)}/log")
        return [LogEntry.parse(f) for f in objects(body, "log")]

    async def remove_member(self, group_id: str, user_id: str) -> None:
        await self.request(
            "DELETE",
            f"/groups/{_group(group_id)}/members/{_user(user_id)}",
            done_if=(ErrorCode.NO_SUCH_MEMBER,),
        )

    # -- files and swarms -------------------------------------------------------

    async def register_file(self, group_id: str, info: bytes) -> None:
        await self.request(
            "POST",
            f"/groups/{_group(group_id)}/files",
            json={"info": base64.b64encode(info).decode()},
            idempotent=True,
        )

    async def list_files(self, group_id: str) -> list[FileEntry]:
        body = await self.request("GET", f"/groups/{_group(group_id)}/files")
        return [FileEntry.parse(f) for f in objects(body, "files")]

    async def file_contents(self, group_id: str, name: str) -> list[tuple[str, int]]:
        """The files inside a shared item (paths below a folder) with their sizes."""
        path = f"/groups/{_group(group_id)}/files/{_seg(name)}/contents"
        body = await self.request("GET", path)
        return [(f.text("path"), f.number("length")) for f in objects(body, "contents")]

    async def file_info(self, group_id: str, name: str) -> bytes:
        """The file's bencoded info dictionary (its info-hash is the file's identity)."""
        body = await self.request("GET", f"/groups/{_group(group_id)}/files/{_seg(name)}")
        return Fields(body, "file").base64_bytes("info")

    async def stop_share(self, group_id: str, name: str) -> None:
        # The file itself goes when its last sharer stops: hence no_such_file too.
        await self.request(
            "DELETE",
            f"/groups/{_group(group_id)}/files/{_seg(name)}/shares/me",
            done_if=(ErrorCode.NOT_SHARING, ErrorCode.NO_SUCH_FILE),
        )

    async def announce(
        self,
        *,
        info_hash: bytes,
        peer_id: bytes,
        ip: str,
        port: int,
        uploaded: int,
        downloaded: int,
        left: int,
        event: str,
        interval: int,
    ) -> AnnounceResult:
        body = await self.request(
            "POST",
            "/announce",
            json={
                "info_hash": info_hash.hex(),
                "peer_id": peer_id.hex(),
                "ip": ip,
                "port": port,
                "uploaded": uploaded,
                "downloaded": downloaded,
                "left": left,
                "event": event,
                "interval": interval,
            },
            idempotent=True,
        )
        f = Fields(body, "announce")
        peers = [
            PeerAddress(
                p.hex_bytes("peer_id"),
                p.text("ip"),
                p.number("port"),
                p.flag("seed"),
                p.text("user_id", ""),
            )
            for p in f.objects("peers")
        ]
        return AnnounceResult(
            interval=f.number("interval", interval),
            peers=peers,
            seeders=f.number("seeders", 0),
            leechers=f.number("leechers", 0),
        )

    async def vouch(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        """Whether the tracker has `peer_id` at `ip` in the file's swarm (members only)."""
        body = await self.request(
            "GET", f"/swarms/{info_hash.hex()}/peers/{peer_id.hex()}?ip={_seg(ip)}"
        )
        return Fields(body, "vouch").flag("in_swarm")


def _seg(value: str) -> str:
    """Quote one path segment (file names may hold spaces, '%', '?', ...).

    "." and ".." are valid ids, but as they stand URL normalisation would drop them."""
    from urllib.parse import quote

    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


def _id(kind: str, value: str) -> str:
    """A user or group id as a path segment; an id that cannot exist is refused here,
    as the tracker would ('a/b' would otherwise reach another endpoint)."""
    _refuse(name_problem(kind, value))
    return _seg(value)


def _new_id(kind: str, value: str) -> None:
    """Refused here, before the tracker is asked or anything is written: the client
    names folders after user ids."""
    _refuse(id_problem(kind, value))


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise UsageError(problem)


def _group(group_id: str) -> str:
    return _id("group", group_id)


def _user(user_id: str) -> str:
    return _id("user", user_id)
