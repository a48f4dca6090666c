"""Helpers of the tracker tests: a movable clock, users and groups, info dictionaries."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from fastbencode import bencode  # type: ignore[attr-defined]
from sqlalchemy.orm import Session

from minitorrent.tracker.services import files, groups, swarm, users
from minitorrent.tracker.services.throttle import LoginThrottle


@dataclass
class FakeClock:
    """Wall clock and monotonic clock that move only when told."""

    now: datetime = field(default_factory=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    start: datetime = field(default_factory=lambda: datetime(2030, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - self.start).total_seconds()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# argon2id at its cheapest: the rules are what is tested, not the cost.
FAST_HASH: dict[str, Any] = {
    "password_time_cost": 1,
    "password_memory_kib": 8,
    "password_parallelism": 1,
}


def make_users(db: Session, hasher: PasswordHasher, now: datetime, *names: str) -> None:
    for name in names:
        users.create_user(db, name, f"pw-{name}", hasher=hasher, now=now)


def login(
    db: Session,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    clock: FakeClock,
    user: str,
    password: str,
    ip: str = "10.0.0.1",
) -> users.LoginResult:
    return users.login(db, user, password, hasher=hasher, throttle=throttle, ip=ip, now=clock())


def make_group(db: Session, now: datetime, group_id: str, admin: str, *members: str) -> None:
    """A group with its admin and then members, joined in the order given."""
    groups.create_group(db, admin, group_id, now=now)
    for member in members:
        groups.request_join(db, member, group_id, now=now)
        groups.accept_request(db, admin, group_id, member, now=now)


def make_info(
    group_id: str, name: str = "file.bin", data: bytes = b"hello world", piece: int = 16384
) -> bytes:
    """A bencoded private v1 info dictionary, as a minitorrent client uploads it."""
    pieces = b"".join(
        hashlib.sha1(data[i : i + piece]).digest() for i in range(0, len(data), piece)
    )
    return bytes(
        bencode(
            {
                b"length": len(data),
                b"name": name.encode(),
                b"piece length": piece,
                b"pieces": pieces,
                b"private": 1,
                b"source": group_id.encode(),
            }
        )
    )


def info_hash(info: bytes) -> str:
    return hashlib.sha1(info).hexdigest()


def share(db: Session, now: datetime, group_id: str, user_id: str, info: bytes) -> str:
    """Share the info dict as user_id; return its info-hash."""
    files.share_file(db, user_id, group_id, info, now=now)
    return info_hash(info)


def peer_id(n: int) -> str:
    return f"{n:040x}"


def announce_of(
    info_hash_hex: str,
    *,
    peer: int = 0,
    left: int = 0,
    ip: str = "127.0.0.1",
    port: int = 6881,
    event: swarm.Event = "",
    interval: int | None = None,
    numwant: int | None = None,
) -> swarm.Announce:
    return swarm.Announce(
        info_hash=info_hash_hex,
        peer_id=peer_id(peer),
        ip=ip,
        port=port,
        uploaded=0,
        downloaded=0,
        left=left,
        event=event,
        interval=interval,
        numwant=numwant,
    )


def same_loop(http: TestClient, client: tuple[str, int]) -> TestClient:
    """Another client of ``http``'s app, seen from another address, sending on the event
    loop ``http`` runs the app on: an app serves one loop (its slots are asyncio's)."""
    other = TestClient(http.app, client=client)
    other.portal = http.portal
    return other


class ApiUser:
    """A logged-in user of the JSON API: `get`/`post`/`delete` carry the bearer token."""

    def __init__(self, http: TestClient, user_id: str) -> None:
        self.http = http
        self.user_id = user_id
        created = http.post("/api/v1/users", json={"user_id": user_id, "password": "pw"})
        assert created.status_code == 201, created.text
        session = http.post("/api/v1/sessions", json={"user_id": user_id, "password": "pw"})
        assert session.status_code == 201, session.text
        self.token: str = session.json()["token"]
        self.passkey: str = session.json()["passkey"]

    def call(self, method: str, path: str, body: object = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        response: httpx.Response = self.http.request(
            method, f"/api/v1{path}", json=body, headers=headers
        )
        return response

    def get(self, path: str) -> httpx.Response:
        return self.call("GET", path)

    def post(self, path: str, body: object = None) -> httpx.Response:
        return self.call("POST", path, body)

    def delete(self, path: str) -> httpx.Response:
        return self.call("DELETE", path)

    def upload(self, group_id: str, info: bytes) -> httpx.Response:
        body = {"info": base64.b64encode(info).decode()}
        return self.post(f"/groups/{group_id}/files", body)


def api_group(group_id: str, admin: ApiUser, *members: ApiUser) -> None:
    assert admin.post("/groups", {"group_id": group_id}).status_code == 201
    for member in members:
        assert member.post(f"/groups/{group_id}/requests").status_code == 201
        accepted = admin.post(f"/groups/{group_id}/requests/{member.user_id}/accept")
        assert accepted.status_code == 200
