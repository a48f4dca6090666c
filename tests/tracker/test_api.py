"""The JSON API over HTTP: status codes, the error shape, refusals per endpoint."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minitorrent.tracker.app import create_app
from minitorrent.tracker.db import Database
from minitorrent.tracker.models import LoginSession, Peer
from minitorrent.tracker.settings import TrackerSettings

from .helpers import ApiUser, FakeClock, api_group, make_info

NOT_LOGGED_IN = {"error": "not_logged_in", "message": "not logged in (or session expired)"}


def _is_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    body: dict[str, str] = response.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    assert "Traceback" not in body["message"] and body["message"]
    return body


@pytest.fixture
def trio(http: TestClient) -> tuple[ApiUser, ApiUser, ApiUser]:
    """ann admin of "g" with member bob; cat is a stranger."""
    ann, bob, cat = (ApiUser(http, name) for name in ("ann", "bob", "cat"))
    api_group("g", ann, bob)
    return ann, bob, cat


def test_accounts_and_sessions(http: TestClient) -> None:
    ann = ApiUser(http, "ann")
    again = http.post("/api/v1/users", json={"user_id": "ann", "password": "x"})
    assert _is_error(again, 409, "user_exists")["message"] == "user 'ann' already exists"
    wrong = http.post("/api/v1/sessions", json={"user_id": "ann", "password": "x"})
    nobody = http.post("/api/v1/sessions", json={"user_id": "zed", "password": "x"})
    for answer in (wrong, nobody):  # alike: which ids exist is not for a guesser to learn
        message = _is_error(answer, 401, "wrong_credentials")["message"]
        assert message == "wrong user id or password"
    assert dict(wrong.headers) == dict(nobody.headers)
    bad_id = http.post("/api/v1/users", json={"user_id": "a b", "password": "x"})
    _is_error(bad_id, 400, "invalid_user_id")
    me = ann.get("/me").json()
    assert me == {"user_id": "ann", "passkey": ann.passkey}
    rotated = ann.post("/me/passkey").json()["passkey"]
    assert rotated != ann.passkey and ann.get("/me").json()["passkey"] == rotated


def test_login_answer(http: TestClient, settings: object, db_url: str) -> None:
    ApiUser(http, "ann")
    body = http.post("/api/v1/sessions", json={"user_id": "ann", "password": "pw"}).json()
    assert set(body) == {"token", "user_id", "passkey", "idle_ttl", "shared_database"}
    assert body["idle_ttl"] == 3600
    # On SQLite no other tracker can know the session (the file is locked to one).
    assert body["shared_database"] is not db_url.startswith("sqlite")


def test_login_throttle_answers_429(http: TestClient) -> None:
    ApiUser(http, "ann")
    for _ in range(5):
        http.post("/api/v1/sessions", json={"user_id": "ann", "password": "bad"})
    answer = http.post("/api/v1/sessions", json={"user_id": "ann", "password": "pw"})
    body = _is_error(answer, 429, "too_many_attempts")
    assert body["message"].startswith("too many failed logins; try again in ")
    assert int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc", "Bearer"])
def test_401_without_a_valid_token(http: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    answer = http.get("/api/v1/groups", headers=headers)
    assert answer.status_code == 401 and answer.json() == NOT_LOGGED_IN


def test_logout_and_expiry(http: TestClient, clock: FakeClock) -> None:
    ann = ApiUser(http, "ann")
    assert ann.delete("/sessions/current").status_code == 204
    assert ann.get("/groups").json() == NOT_LOGGED_IN
    bob = ApiUser(http, "bob")
    clock.advance(3599)
    assert bob.get("/groups").status_code == 200  # and this keeps it alive
    clock.advance(3599)
    assert bob.get("/groups").status_code == 200
    clock.advance(3601)
    assert bob.get("/groups").json() == NOT_LOGGED_IN


def test_validation_and_unknown_routes_share_the_error_shape(http: TestClient) -> None:
    missing = http.post("/api/v1/users", json={"user_id": "ann"})
    assert _is_error(missing, 422, "invalid_request")["message"].startswith(
        "invalid request: password"
    )
    not_json = http.post("/api/v1/users", content=b"{nope", headers={"Content-Type": "x"})
    _is_error(not_json, 422, "invalid_request")
    _is_error(http.get("/api/v1/nowhere"), 404, "not_found")  # elsewhere: a web page
    _is_error(http.get("/api/v1/users"), 405, "method_not_allowed")


def test_an_unexpected_error_is_a_plain_500(app: FastAPI) -> None:
    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    answer = TestClient(app, raise_server_exceptions=False).get("/api/v1/boom")
    body = _is_error(answer, 500, "internal")
    assert "secret" not in body["message"]


def test_group_flow(trio: tuple[ApiUser, ApiUser, ApiUser]) -> None:
    ann, bob, cat = trio
    assert cat.post("/groups/g/requests").json()["user_id"] == "cat"
    listed = {g["group_id"]: g for g in cat.get("/groups").json()}
    assert listed["g"] == {
        "group_id": "g",
        "admin": "ann",
        "members": 2,
        "is_member": False,
        "is_admin": False,
        "pending": True,
    }
    _is_error(cat.post("/groups/g/requests"), 409, "request_pending")
    _is_error(bob.post("/groups/g/requests"), 409, "already_member")
    _is_error(ann.post("/groups", {"group_id": "g"}), 409, "group_exists")
    assert [r["user_id"] for r in ann.get("/groups/g/requests").json()] == ["cat"]
    assert cat.delete("/groups/g/membership").json() == {"group_id": "g", "status": "withdrawn"}
    _is_error(cat.delete("/groups/g/membership"), 409, "not_member")
    cat.post("/groups/g/requests")
    assert ann.post("/groups/g/requests/cat/reject").status_code == 204
    _is_error(ann.post("/groups/g/requests/cat/accept"), 404, "no_such_request")
    members = ann.get("/groups/g/members").json()
    assert [(m["user_id"], m["is_admin"]) for m in members] == [("ann", True), ("bob", False)]
    _is_error(ann.delete("/groups/g/members/ann"), 400, "remove_self")
    _is_error(ann.delete("/groups/g/members/cat"), 404, "no_such_member")
    assert ann.delete("/groups/g/membership").json()["status"] == "left"
    assert bob.get("/groups").json()[0]["admin"] == "bob"
    assert bob.delete("/groups/g/membership").status_code == 200
    assert bob.get("/groups").json() == []


# -- authorisation: who may call what ----------------------------------------------------

# Every authenticated endpoint and who may call it: any logged-in user, members of the
# group, members of the file's group ("torrent"), or its admin. Placeholders: {g} group,
# {ih} info-hash.
Level = Literal["login", "member", "torrent", "admin"]
ANNOUNCE = {"info_hash": "{ih}", "peer_id": "ab" * 20, "ip": "10.0.0.1", "port": 1, "left": 0}
ENDPOINTS: list[tuple[str, str, object, Level]] = [
    ("GET", "/me", None, "login"),
    ("POST", "/me/passkey", None, "login"),
    ("DELETE", "/sessions/current", None, "login"),
    ("GET", "/groups", None, "login"),
    ("POST", "/groups", {"group_id": "new"}, "login"),
    ("POST", "/groups/{g}/requests", None, "login"),
    ("DELETE", "/groups/{g}/membership", None, "login"),
    ("GET", "/groups/{g}/members", None, "member"),
    ("GET", "/groups/{g}/files", None, "member"),
    ("GET", "/groups/{g}/log", None, "member"),
    ("GET", "/groups/{g}/files/f", None, "member"),
    ("GET", "/groups/{g}/files/f/contents", None, "member"),
    ("POST", "/groups/{g}/files", {"info": "", "sha1": "0" * 40}, "member"),
    ("DELETE", "/groups/{g}/files/f/shares/me", None, "member"),
    ("POST", "/announce", ANNOUNCE, "torrent"),
    ("POST", "/announce/batch", {"items": [ANNOUNCE]}, "torrent"),
    ("GET", "/swarms/{ih}/peers/" + "ab" * 20 + "?ip=10.0.0.1", None, "torrent"),
    ("GET", "/groups/{g}/requests", None, "admin"),
    ("POST", "/groups/{g}/requests/cat/accept", None, "admin"),
    ("POST", "/groups/{g}/requests/cat/reject", None, "admin"),
    ("DELETE", "/groups/{g}/members/ann", None, "admin"),
]
# The status /announce answers for the refusals a batch item reports with HTTP 200.
BATCH_ITEM_STATUS = {"not_member": 403, "unknown_torrent": 404}
# Unauthenticated on purpose: creating an account and logging in.
PUBLIC = {("POST", "/users"), ("POST", "/sessions")}
# What each caller gets where the level refuses them (absent: allowed, not called).
Refusal = tuple[int, str]
REFUSED: dict[Level, dict[str, Refusal]] = {
    "login": {"stranger": (401, "not_logged_in")},
    "member": {"stranger": (401, "not_logged_in"), "outsider": (403, "not_member")},
    # Another group's torrent is answered as an unknown one: no hint that it exists.
    "torrent": {"stranger": (401, "not_logged_in"), "outsider": (404, "unknown_torrent")},
    "admin": {
        "stranger": (401, "not_logged_in"),
        "outsider": (403, "not_admin"),
        "member": (403, "not_admin"),
    },
}


class Callers:
    """ann admin of "g" (sharing a file) with member bob; cat, admin of another group
    "h", is an outsider to "g"; a stranger has no token at all."""

    def __init__(self, http: TestClient) -> None:
        self.http = http
        ann, bob, self.cat = (ApiUser(http, name) for name in ("ann", "bob", "cat"))
        api_group("g", ann, bob)
        api_group("h", self.cat)
        self.ih = ann.upload("g", make_info("g")).json()["info_hash"]
        self.users = {"member": bob, "outsider": self.cat}

    def call(self, who: str, method: str, path: str, body: object, **names: str) -> Refusal:
        values = {"g": "g", "ih": self.ih} | names
        path, body = _fill(path, values), _fill(body, values)
        if who == "stranger":
            answer = self.http.request(method, "/api/v1" + path, json=body)
        else:
            answer = self.users[who].call(method, path, body)
        payload, status = answer.json(), answer.status_code
        if "results" in payload:  # a batch refuses per item, with HTTP 200
            payload = payload["results"][0]
            status = BATCH_ITEM_STATUS.get(payload["error"], status)
        assert payload.get("message"), payload  # every refusal says why
        return status, payload.get("error", "")


def _fill(value: object, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


@pytest.mark.parametrize(
    ("method", "path", "body", "level"), ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS]
)
def test_every_endpoint_refuses_strangers_non_members_and_non_admins(
    http: TestClient, method: str, path: str, body: object, level: Level
) -> None:
    callers = Callers(http)
    for who, expected in REFUSED[level].items():
        assert callers.call(who, method, path, body) == expected, (who, method, path)
    # A group or file that does not exist is 404 before any membership check.
    if "{g}" in path:
        assert callers.call("outsider", method, path, body, g="nope") == (404, "no_such_group")
    if "{ih}" in path + str(body):
        unknown = callers.call("outsider", method, path, body, ih="0" * 40)
        assert unknown == (404, "unknown_torrent")


def test_the_table_lists_every_endpoint(http: TestClient) -> None:
    """A new endpoint cannot go untested: it must be in ENDPOINTS (or PUBLIC)."""
    listed = {(m, "/api/v1" + p.split("?")[0]) for m, p, *_ in ENDPOINTS}
    listed |= {(m, "/api/v1" + p) for m, p in PUBLIC}
    paths = http.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        if not path.startswith("/api/v1/"):
            continue  # the BitTorrent announce and scrape: passkey, see test_bt_announce
        for method in operations:
            pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(path)) + "$"
            assert any(m == method.upper() and re.match(pattern, p) for m, p in listed), (
                f"{method.upper()} {path} is not in ENDPOINTS"
            )


def test_files_flow(trio: tuple[ApiUser, ApiUser, ApiUser]) -> None:
    ann, bob, _ = trio
    info = make_info("g", "a file.txt", b"data")
    shared = bob.upload("g", info)
    assert shared.status_code == 201 and shared.json()["name"] == "a file.txt"
    assert shared.json()["info_hash"] == hashlib.sha1(info).hexdigest()
    # A client of the previous version still sends a whole-file sha1: accepted, ignored.
    old_client = {"info": base64.b64encode(info).decode(), "sha1": "0" * 40}
    assert ann.post("/groups/g/files", old_client).status_code == 201
    clash = ann.upload("g", make_info("g", "a file.txt", b"other"))
    assert _is_error(clash, 409, "file_name_taken")["message"] == (
        "a different file named 'a file.txt' is already shared in 'g'"
    )
    bad = ann.post("/groups/g/files", {"info": "***", "sha1": "0" * 40})
    _is_error(bad, 400, "bad_info")
    [row] = ann.get("/groups/g/files").json()
    assert (row["sharers"], row["length"], row["info_hash"]) == (2, 4, shared.json()["info_hash"])
    assert row["sha1"] == ""  # only so that clients of the previous version can read it
    detail = ann.get("/groups/g/files/a file.txt").json()
    assert base64.b64decode(detail["info"]) == info
    assert row["file_count"] is None
    contents = ann.get("/groups/g/files/a file.txt/contents").json()
    assert contents == [{"path": "a file.txt", "length": 4}]
    _is_error(ann.get("/groups/g/files/nothing/contents"), 404, "no_such_file")
    assert ann.delete("/groups/g/files/a file.txt/shares/me").status_code == 204
    _is_error(ann.delete("/groups/g/files/a file.txt/shares/me"), 409, "not_sharing")
    _is_error(ann.get("/groups/g/files/nothing"), 404, "no_such_file")


def _json_announce(info_hash: str, peer: str, **extra: object) -> dict[str, object]:
    return {"info_hash": info_hash, "peer_id": peer * 40, "ip": "10.0.0.9", "port": 7000} | {
        "left": 0,
        **extra,
    }


def test_json_announce_and_logout_drops_the_sessions_peers(
    trio: tuple[ApiUser, ApiUser, ApiUser],
) -> None:
    ann, bob, cat = trio
    ih = ann.upload("g", make_info("g")).json()["info_hash"]
    first = ann.post("/announce", _json_announce(ih, "a", interval=10)).json()
    assert first == {"interval": 10, "peers": [], "seeders": 1, "leechers": 0}
    second = bob.post("/announce", _json_announce(ih.upper(), "b", left=3)).json()
    assert second["peers"] == [
        {"peer_id": "a" * 40, "ip": "10.0.0.9", "port": 7000, "seed": True, "user_id": "ann"}
    ]
    _is_error(cat.post("/announce", _json_announce(ih, "c")), 404, "unknown_torrent")
    _is_error(ann.post("/announce", _json_announce("0" * 40, "a")), 404, "unknown_torrent")
    _is_error(ann.post("/announce", _json_announce(ih, "a", port=0)), 400, "bad_port")
    assert ann.delete("/sessions/current").status_code == 204
    assert bob.get("/groups/g/files").json()[0]["seeders"] == 0


def test_batch_announce_answers_per_item(trio: tuple[ApiUser, ApiUser, ApiUser]) -> None:
    ann = trio[0]
    ih = ann.upload("g", make_info("g")).json()["info_hash"]
    items = [
        _json_announce(ih, "a"),
        _json_announce("0" * 40, "a"),
        _json_announce(ih, "c", ip="x"),
    ]
    results = ann.post("/announce/batch", {"items": items}).json()["results"]
    assert results[0]["result"]["seeders"] == 1 and results[0]["error"] is None
    assert [r["error"] for r in results[1:]] == ["unknown_torrent", "bad_ip"]


def test_json_reannounces_of_known_peers_are_answered_from_memory_the_rest_by_the_route(
    app: FastAPI, trio: tuple[ApiUser, ApiUser, ApiUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    """api/shortcut.py answers what memory can; anything else reaches the route."""
    ann, bob, _ = trio
    ih = ann.upload("g", make_info("g")).json()["info_hash"]
    assert ann.post("/announce", _json_announce(ih, "a")).status_code == 200
    assert bob.post("/announce", _json_announce(ih, "b", left=3)).status_code == 200

    async def route_only(*_: object) -> None:
        raise AssertionError("the route was asked")

    registry = app.state.context.announces
    original = registry.announce
    monkeypatch.setattr(registry, "announce", route_only)
    again = ann.post("/announce", _json_announce(ih, "a", interval=60)).json()
    assert again == {
        "interval": 60,
        "peers": [
            {"peer_id": "b" * 40, "ip": "10.0.0.9", "port": 7000, "seed": False, "user_id": "bob"}
        ],
        "seeders": 1,
        "leechers": 1,
    }
    # Refusals still come from the route, in its words.
    _is_error(ann.post("/announce", {"info_hash": ih}), 422, "invalid_request")
    stranger = ann.http.post("/api/v1/announce", json=_json_announce(ih, "a"))
    _is_error(stranger, 401, "not_logged_in")
    monkeypatch.setattr(registry, "announce", original)
    # What the database must see goes there: a stop ends the peer.
    assert ann.post("/announce", _json_announce(ih, "a", event="stopped")).status_code == 200
    assert bob.post("/announce", _json_announce(ih, "b", left=3)).json()["peers"] == []


def test_openapi_document(http: TestClient) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert "/api/v1/groups/{group_id}/requests/{user_id}/accept" in paths
    assert "/announce/{passkey}" in paths


def test_periodic_cleanup_reclaims_expired_peers_and_sessions(
    settings: TrackerSettings, database: Database, clock: FakeClock
) -> None:
    fast = settings.model_copy(update={"cleanup_interval": 0.02})
    app = create_app(fast, database=database, clock=clock, monotonic=clock.monotonic)
    with TestClient(app) as http:
        ann = ApiUser(http, "ann")
        api_group("g", ann)
        ih = ann.upload("g", make_info("g")).json()["info_hash"]
        ann.post("/announce", _json_announce(ih, "a", interval=1))
        clock.advance(3601)  # the peer (after 7 s) and the session (after 3600 s) expire
        deadline = time.monotonic() + 5
        while _rows(database) != (0, 0):
            assert time.monotonic() < deadline, "cleanup did not run"
            time.sleep(0.02)


def _rows(database: Database) -> tuple[int, int]:
    with database.session() as db:
        count = select(func.count())
        peers = db.scalar(count.select_from(Peer))
        sessions = db.scalar(count.select_from(LoginSession))
    return peers or 0, sessions or 0


@pytest.mark.timeout(30)
def test_a_request_whose_session_is_not_cached_is_answered(
    app: FastAPI, trio: tuple[ApiUser, ApiUser, ApiUser]
) -> None:
    """Loading the caller's session takes a database slot; the endpoint's transaction
    opens only after that (api/deps.db_endpoint), so with SQLite's single slot the
    request does not wait for itself."""
    ann = trio[0]
    context = app.state.context
    for method, path in (("GET", "/groups"), ("GET", "/me"), ("POST", "/groups/g/requests")):
        context.sessions.forget(lambda _: True)
        assert ann.call(method, path).status_code in (200, 409), path
