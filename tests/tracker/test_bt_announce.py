"""The BitTorrent announce and scrape: bencoded, HTTP 200 even when refusing, never 5xx."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote_from_bytes

import pytest
from fastapi.testclient import TestClient
from fastbencode import bdecode  # type: ignore[attr-defined]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import ASGIApp, Message, Scope

from .helpers import ApiUser, api_group, make_info

IH_HEX_LEN = 40
PEER_A = b"-AA0001-" + b"\x00\xff" * 6
PEER_B = b"-BB0001-" + b"&=%+" * 3


def _qs(**params: bytes | str | int) -> str:
    return "&".join(
        f"{key}={quote_from_bytes(v if isinstance(v, bytes) else str(v).encode())}"
        for key, v in params.items()
    )


def _bt(http: TestClient, path: str, query: str) -> dict[bytes, object]:
    answer = http.get(f"{path}?{query}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    decoded = bdecode(answer.content)
    assert isinstance(decoded, dict)
    return decoded


class Swarm:
    """Group "g" (ann admin, bob member), a file shared by ann; cat is a stranger."""

    def __init__(self, http: TestClient) -> None:
        self.http = http
        self.ann, self.bob, self.cat = (ApiUser(http, n) for n in ("ann", "bob", "cat"))
        api_group("g", self.ann, self.bob)
        self.ih_hex: str = self.ann.upload("g", make_info("g")).json()["info_hash"]
        self.ih = bytes.fromhex(self.ih_hex)

    def announce(self, passkey: str, **params: bytes | str | int) -> dict[bytes, object]:
        base: dict[str, bytes | str | int] = {
            "info_hash": self.ih,
            "peer_id": PEER_A,
            "port": 6881,
            "uploaded": 0,
            "downloaded": 0,
            "left": 0,
        }
        return self.announce_raw(passkey, _qs(**(base | params)))

    def announce_raw(self, passkey: str, query: str) -> dict[bytes, object]:
        return _bt(self.http, f"/announce/{passkey}", query)


@pytest.fixture
def sw(http: TestClient) -> Swarm:
    return Swarm(http)


def _failure(answer: dict[bytes, object]) -> str:
    assert set(answer) == {b"failure reason"}, answer
    reason = answer[b"failure reason"]
    assert isinstance(reason, bytes)
    return reason.decode()


def test_members_get_compact_peers(sw: Swarm) -> None:
    first = sw.announce(sw.ann.passkey, ip="10.1.2.3", port=51413)
    assert (first[b"complete"], first[b"incomplete"], first[b"peers"]) == (1, 0, b"")
    assert first[b"interval"] == 30 and first[b"min interval"] == 10
    second = sw.announce(sw.bob.passkey, peer_id=PEER_B, left=100)
    peers = second[b"peers"]
    assert isinstance(peers, bytes) and len(peers) == 6
    assert str(ipaddress.IPv4Address(peers[:4])) == "10.1.2.3"
    assert int.from_bytes(peers[4:], "big") == 51413
    assert (second[b"complete"], second[b"incomplete"]) == (1, 1)


def test_client_host_is_used_without_ip(sw: Swarm) -> None:
    sw.announce(sw.ann.passkey)
    peers = sw.announce(sw.bob.passkey, peer_id=PEER_B, left=1)[b"peers"]
    assert isinstance(peers, bytes) and peers[:4] == bytes([127, 0, 0, 1])


def test_non_compact_and_ipv6_peers(sw: Swarm) -> None:
    sw.announce(sw.ann.passkey, ip="2001:db8::7", port=7000)
    sw.announce(sw.ann.passkey, peer_id=b"x" * 20, ip="10.0.0.1", port=7001)
    compact = sw.announce(sw.bob.passkey, peer_id=PEER_B, left=1)
    peers4, peers6 = compact[b"peers"], compact[b"peers6"]
    assert isinstance(peers4, bytes) and len(peers4) == 6
    assert isinstance(peers6, bytes) and len(peers6) == 18
    assert str(ipaddress.IPv6Address(peers6[:16])) == "2001:db8::7"
    full = sw.announce(sw.bob.passkey, peer_id=PEER_B, left=1, compact=0)
    listed = full[b"peers"]
    assert isinstance(listed, list)
    assert {(p[b"peer id"], p[b"ip"], p[b"port"]) for p in listed} == {
        (PEER_A, b"2001:db8::7", 7000),
        (b"x" * 20, b"10.0.0.1", 7001),
    }


def test_json_and_bittorrent_peers_meet(sw: Swarm) -> None:
    body = {"info_hash": sw.ih_hex, "peer_id": "ab" * 20, "ip": "10.0.0.5", "port": 9000, "left": 0}
    assert sw.ann.post("/announce", body).status_code == 200
    peers = sw.announce(sw.bob.passkey, peer_id=PEER_B, left=5)[b"peers"]
    assert peers == bytes([10, 0, 0, 5]) + (9000).to_bytes(2, "big")
    seen = sw.ann.post("/announce", body).json()["peers"]
    assert [(p["peer_id"], p["port"]) for p in seen] == [(PEER_B.hex(), 6881)]


def test_passkey_seeder_becomes_a_sharer(sw: Swarm) -> None:
    sw.announce(sw.bob.passkey, peer_id=PEER_B, left=0)
    assert sw.ann.get("/groups/g/files").json()[0]["sharers"] == 2


def test_refusals(sw: Swarm) -> None:
    assert _failure(sw.announce("0" * 32)) == "unknown passkey"
    assert _failure(sw.announce(sw.cat.passkey)) == "unknown torrent"  # another group's
    assert _failure(sw.announce(sw.ann.passkey, info_hash=b"\x01" * 20)) == "unknown torrent"
    old = sw.bob.passkey
    new = sw.bob.post("/me/passkey").json()["passkey"]
    assert _failure(sw.announce(old)) == "unknown passkey"
    assert b"peers" in sw.announce(new)
    assert sw.bob.delete("/groups/g/membership").status_code == 200
    assert _failure(sw.announce(new)) == "unknown torrent"


def test_removed_member_is_refused_at_once(sw: Swarm) -> None:
    assert b"peers" in sw.announce(sw.bob.passkey)
    assert sw.ann.delete("/groups/g/members/bob").status_code == 204
    assert _failure(sw.announce(sw.bob.passkey)) == "unknown torrent"


MALFORMED_PARAMETERS: list[tuple[dict[str, bytes | int | str], str]] = [
    ({"info_hash": b"\x01" * 19}, "info_hash must be 20 bytes"),
    ({"info_hash": b"\x01" * 21}, "info_hash must be 20 bytes"),
    ({"peer_id": b"short"}, "peer_id must be 20 bytes"),
    ({"port": 2**64}, "invalid port"),
    ({"port": 70000}, "port must be 1-65535"),
    ({"port": 0}, "port must be 1-65535"),
    ({"left": -1}, "invalid left"),
    ({"left": 10**30}, "invalid left"),
    ({"uploaded": "1e9"}, "invalid uploaded"),
    ({"downloaded": " 7"}, "invalid downloaded"),
    ({"numwant": "ten"}, "invalid numwant"),
    ({"event": "exploded"}, "invalid event"),
]
MALFORMED_QUERIES = [
    ("port=1&left=0", "missing parameter info_hash"),
    ("info_hash=%01%01&info_hash=%01%01", "parameter info_hash given more than once"),
    ("left=0&left=1", "parameter left given more than once"),
    ("%ff%fe=1", "malformed query string"),
    ("", "missing parameter info_hash"),
]


# Loops rather than parametrize: the swarm is built once for all the cases.
def test_malformed_parameters(sw: Swarm) -> None:
    for params, reason in MALFORMED_PARAMETERS:
        assert _failure(sw.announce(sw.ann.passkey, **params)) == reason, params


def test_malformed_query_strings(sw: Swarm) -> None:
    for query, reason in MALFORMED_QUERIES:
        assert _failure(sw.announce_raw(sw.ann.passkey, query)) == reason, query


def test_missing_port_and_left(sw: Swarm) -> None:
    query = _qs(info_hash=sw.ih, peer_id=PEER_A)
    assert _failure(sw.announce_raw(sw.ann.passkey, query)) == "missing parameter port"


def test_stopped_leaves_the_swarm(sw: Swarm) -> None:
    sw.announce(sw.ann.passkey)
    gone = sw.announce(sw.ann.passkey, event="stopped")
    assert (gone[b"complete"], gone[b"peers"]) == (0, b"")


def test_scrape(sw: Swarm) -> None:
    sw.announce(sw.ann.passkey, event="completed")
    sw.announce(sw.bob.passkey, peer_id=PEER_B, left=9)
    query = _qs(info_hash=sw.ih)
    files = _bt(sw.http, f"/scrape/{sw.bob.passkey}", query)[b"files"]
    assert files == {sw.ih: {b"complete": 1, b"incomplete": 1, b"downloaded": 1}}
    assert _bt(sw.http, f"/scrape/{sw.cat.passkey}", query) == {b"files": {}}
    assert _bt(sw.http, f"/scrape/{sw.ann.passkey}", "")[b"files"] == files
    both = query + "&" + _qs(info_hash=bytes(20))  # an unknown hash is left out
    assert _bt(sw.http, f"/scrape/{sw.ann.passkey}", both)[b"files"] == files
    assert _failure(_bt(sw.http, "/scrape/nope", query)) == "unknown passkey"
    assert _failure(_bt(sw.http, f"/scrape/{sw.ann.passkey}", "info_hash=ab")) == (
        "info_hash must be 20 bytes"
    )


def _raw_get(http: TestClient, path: str, query: bytes) -> tuple[int, bytes, bytes]:
    """GET straight through ASGI, so the query string arrives byte for byte (an HTTP
    client would re-encode invalid percent escapes and raw bytes); on the event loop
    ``http`` runs the app on."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    assert http.portal is not None, "the app's lifespan runs: http is entered"
    app: ASGIApp = http.app
    http.portal.call(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = dict(start["headers"])
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers.get(b"content-type", b""), body


_KEYS = sorted(["info_hash", "peer_id", "port", "uploaded", "downloaded", "left"])
_KEYS += ["event", "numwant", "compact", "ip", "key", "", "info%5fhash", "%ZZ", "\xff"]
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([2**63 - 1, 2**63, 2**64, 10**19, 65535, 65536, 0, -1]),
).map(lambda n: str(n).encode())
_VALUES = st.one_of(
    st.binary(max_size=41).map(quote_from_bytes),  # info_hash / peer_id of any length
    _NUMBERS.map(bytes.decode),
    st.sampled_from(["%", "%1", "%g0", "%%41", "%00" * 20, "+" * 20, "1e9", " 7", "0x10"]),
    st.sampled_from(
        ["started", "stopped", "completed", "paused", "exploded", "::1", "::ffff:1.2.3.4"]
    ),
)
_PAIRS = st.tuples(st.sampled_from(_KEYS), _VALUES).map(lambda kv: f"{kv[0]}={kv[1]}".encode())
# Well-formed pairs (repeats included), raw binary junk, or a whole valid announce.
_PARTS = st.lists(st.one_of(_PAIRS, st.binary(max_size=30)), max_size=12)


def _valid_query(ih: bytes) -> bytes:
    return _qs(info_hash=ih, peer_id=PEER_A, port=6881, left=0).encode()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=_PARTS, with_valid=st.booleans(), scrape=st.booleans())
def test_malformed_queries_always_get_a_bencoded_answer(
    sw: Swarm, parts: list[bytes], with_valid: bool, scrape: bool
) -> None:
    """Wrong info_hash lengths, huge numbers, repeated keys, bad percent escapes,
    missing keys, binary junk: HTTP 200 with a bencoded dict, a failure reason unless
    the query happens to be a valid request."""
    query = b"&".join(([_valid_query(sw.ih)] if with_valid else []) + parts)
    path = f"/{'scrape' if scrape else 'announce'}/{sw.ann.passkey}"
    status, content_type, body = _raw_get(sw.http, path, query)
    assert status == 200, (query, body)
    assert content_type.startswith(b"text/plain"), (query, content_type)
    answer = bdecode(body)
    assert isinstance(answer, dict), (query, body)
    if b"failure reason" in answer:
        reason = answer[b"failure reason"]
        assert isinstance(reason, bytes) and reason and b"Traceback" not in reason, answer
    else:
        assert (b"files" if scrape else b"interval") in answer, (query, answer)
