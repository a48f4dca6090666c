"""No id in a request path is ever read as an alias: every route that takes a user id, a
group id or a file name takes it literally, whatever it looks like ("me", "..", "007").

Through a real tracker process and the client's own TrackerClient (which quotes path
segments), plus raw HTTP for the spellings a client library would normalise away.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from argon2 import PasswordHasher

from minitorrent.driver import Client, Tracker, free_port, password_of, stop_all
from minitorrent.errors import TrackerRefused, UsageError
from minitorrent.peer.tracker_client import TrackerClient
from minitorrent.trackers import load_trackers

from ..conftest import FAST_PASSWORD_HASH, MANY_ACCOUNTS
from ..tracker.helpers import make_info
from .helpers import members_view

T = TypeVar("T")
# Ids a user may still create that look like words, aliases or numbers.
CREATABLE = ["me", "ME", "Me", "self", "SELF", "current", "7", "007", "0", "1e3", "0x10", "_"]
# Ids the tracker accepted before the first-character rule: such accounts may exist.
LEGACY = [".", "..", "...", ".me", "-1", "-me"]
TRACKER_ENV = FAST_PASSWORD_HASH | MANY_ACCOUNTS


class Api:
    """One logged-in user of the tracker, through the client's TrackerClient."""

    def __init__(self, info: Path, user_id: str) -> None:
        self.user_id = user_id
        self._client = TrackerClient(load_trackers(info))
        self._loop = asyncio.new_event_loop()
        session = self.run(self._client.login(user_id, password_of(user_id)))
        self._client.token = session.token

    def run(self, call: Awaitable[T]) -> T:
        return self._loop.run_until_complete(call)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)
        return lambda *args, **kwargs: self.run(method(*args, **kwargs))

    def members(self, group_id: str) -> dict[str, bool]:
        return {m.user_id: m.is_admin for m in self.list_members(group_id)}

    def requests(self, group_id: str) -> list[str]:
        return [r.user_id for r in self.list_requests(group_id)]

    def close(self) -> None:
        self.run(self._client.aclose())
        self._loop.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """One tracker for the module: (tracker_info.txt, its SQLite file)."""
    where = tmp_path_factory.mktemp("ids")
    info, db = where / "tracker_info.txt", where / "tracker.db"
    info.write_text(f"127.0.0.1\n{free_port()}\n")
    tracker = Tracker(info, 1, f"sqlite:///{db}", env=TRACKER_ENV)
    yield info, db
    stop_all([tracker])


def _create(info: Path, db: Path, user_id: str) -> None:
    """Create the account: through the API, or as a tracker of old did (a legacy id)."""
    if user_id not in LEGACY:

        async def create() -> None:
            creator = TrackerClient(load_trackers(info))
            try:
                await creator.create_user(user_id, password_of(user_id))
            finally:
                await creator.aclose()

        asyncio.run(create())
        return
    password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(
        password_of(user_id)
    )
    created = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    with sqlite3.connect(db) as connection:
        connection.execute(
            "INSERT OR IGNORE INTO users (id, password_hash, passkey, created_at)"
            " VALUES (?, ?, ?, ?)",
            (user_id, password_hash, secrets.token_hex(16), created),
        )


def _users(info: Path, db: Path, *names: str) -> list[Api]:
    for name in names:
        _create(info, db, name)
    return [Api(info, name) for name in names]


@pytest.fixture
def users(served: tuple[Path, Path]) -> Iterator[Callable[..., list[Api]]]:
    made: list[Api] = []

    def make(*names: str) -> list[Api]:
        apis = _users(*served, *names)
        made.extend(apis)
        return apis

    yield make
    for api in made:
        api.close()


def _admin_and_group(users: Callable[..., list[Api]]) -> tuple[Api, str]:
    tag = secrets.token_hex(4)
    [admin] = users(f"admin-{tag}")
    admin.create_group(f"g-{tag}")
    return admin, f"g-{tag}"


@pytest.mark.parametrize("user_id", CREATABLE + LEGACY)
def test_a_user_id_in_a_path_names_that_user_and_never_the_caller(
    users: Callable[..., list[Api]], user_id: str
) -> None:
    admin, group = _admin_and_group(users)
    [member] = users(user_id)
    member.join_group(group)
    assert admin.requests(group) == [user_id]
    admin.answer_request(group, user_id, accept=True)
    assert admin.members(group) == {admin.user_id: True, user_id: False}

    # The admin removes the user: that user goes, the admin stays admin.
    admin.remove_member(group, user_id)
    assert admin.members(group) == {admin.user_id: True}
    assert [g.group_id for g in member.list_groups() if g.is_member] == []

    member.join_group(group)
    admin.answer_request(group, user_id, accept=False)
    assert admin.requests(group) == []
    with pytest.raises(TrackerRefused, match="no pending request"):
        admin.answer_request(group, user_id, accept=True)

    # Leaving has its own path: the member leaves, nobody else.
    member.join_group(group)
    admin.answer_request(group, user_id, accept=True)
    assert member.leave_group(group) == "left"
    assert admin.members(group) == {admin.user_id: True}


@pytest.mark.parametrize("group_id", CREATABLE)
def test_a_group_id_in_a_path_names_that_group(
    users: Callable[..., list[Api]], group_id: str
) -> None:
    tag = secrets.token_hex(4)
    owner, joiner = users(f"owner-{tag}", f"joiner-{tag}")
    named = f"{group_id}-{tag}" if group_id != "_" else f"_{tag}"
    for gid in (named, group_id if group_id != "_" else "__"):
        try:
            owner.create_group(gid)
        except TrackerRefused as exc:  # made by an earlier parameter of this module
            assert exc.code == "group_exists"
            continue
        joiner.join_group(gid)
        assert owner.requests(gid) == [joiner.user_id]
        owner.answer_request(gid, joiner.user_id, accept=True)
        assert joiner.list_files(gid) == []
        assert owner.members(gid) == {owner.user_id: True, joiner.user_id: False}
        assert joiner.leave_group(gid) == "left"
        assert owner.members(gid) == {owner.user_id: True}


@pytest.mark.parametrize("name", ["me", "ME", "self", "007", "shares", "membership"])
def test_a_file_name_in_a_path_names_that_file(users: Callable[..., list[Api]], name: str) -> None:
    admin, group = _admin_and_group(users)
    [other] = users(f"other-{secrets.token_hex(4)}")
    other.join_group(group)
    admin.answer_request(group, other.user_id, accept=True)
    info = make_info(group, name, b"data")
    other.register_file(group, info)
    admin.register_file(group, info)
    assert admin.file_info(group, name) == info
    admin.stop_share(group, name)
    assert [f.name for f in other.list_files(group)] == [name]  # other still shares it
    with pytest.raises(TrackerRefused, match="no such file"):
        admin.file_info(group, name + "x")


def _raw(info: Path, method: str, path: str, token: str) -> tuple[int, bytes]:
    """One request as written, unnormalised (an HTTP library would drop '..')."""
    [tracker] = load_trackers(info)
    with socket.create_connection((tracker.host, tracker.port), timeout=10) as sock:
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("spelling", ["..", "%2e%2e", "%2E%2E", "%2e.", "."])
def test_dot_segments_name_the_user_so_spelled(
    served: tuple[Path, Path], users: Callable[..., list[Api]], spelling: str
) -> None:
    info, _ = served
    admin, group = _admin_and_group(users)
    token = admin._client.token
    assert token is not None
    status, body = _raw(info, "DELETE", f"/api/v1/groups/{group}/members/{spelling}", token)
    assert (status, b"no_such_member" in body) == (404, True), body
    assert admin.members(group) == {admin.user_id: True}


def test_a_new_id_is_refused_by_the_client_before_anything_is_sent_or_written(
    tmp_path: Path,
) -> None:
    """Nothing listens at the tracker address: the refusal is the client's own."""
    info = tmp_path / "tracker_info.txt"
    info.write_text(f"127.0.0.1\n{free_port()}\n")
    client = Client(info, tmp_path / "state")
    try:
        for bad in ("..", ".", ".hidden", "-rf"):
            refusal = r"^error: user id must not start with '\.' or '-'$"
            client.fails(f"create_user {bad} pw", refusal)
        assert not (tmp_path / "state" / "users").exists()
    finally:
        stop_all([client])


def test_a_legacy_id_logs_in_and_keeps_its_state_inside_the_users_folder(
    served: tuple[Path, Path], tmp_path: Path
) -> None:
    info, db = served
    _create(info, db, "..")
    state = tmp_path / "state"
    client = Client(info, state)
    try:
        client.ok("login .. " + password_of(".."))
        assert (state / "users" / "%2e2e" / "state.db").exists()
        assert not (state / "state.db").exists()
    finally:
        stop_all([client])


def test_the_tracker_refuses_new_ids_that_cannot_be_a_path_element(
    served: tuple[Path, Path],
) -> None:
    info, _ = served
    [tracker] = load_trackers(info)
    for bad in (".", "..", ".x", "-x"):
        answer = httpx.post(
            f"{tracker.url}/api/v1/users", json={"user_id": bad, "password": "pw"}, timeout=10
        )
        assert answer.status_code == 400, answer.text
        assert answer.json() == {
            "error": "invalid_user_id",
            "message": "user id must not start with '.' or '-'",
        }
    client = TrackerClient(load_trackers(info))
    for kind, create in (("user", client.create_user), ("group", client.create_group)):
        with pytest.raises(UsageError, match=f"{kind} id must not start"):
            asyncio.run(create("..", "pw") if kind == "user" else create(".."))  # type: ignore[call-arg]


def test_the_admin_removes_the_user_named_me(make_users: Callable[..., list[Client]]) -> None:
    """As found by hand: the admin left, and `me` became admin."""
    boss, me = make_users("boss", "me")
    assert boss.ok("remove_member lab me") == ["removed 'me' from 'lab'"]
    assert members_view(boss.ok("list_members lab")) == {"boss": "admin"}
    me.fails("list_members lab", r"not a member of 'lab'")
    me.ok("join_group lab")
    boss.ok("accept_request lab me")
    me.ok("leave_group lab")
    assert members_view(boss.ok("list_members lab")) == {"boss": "admin"}
