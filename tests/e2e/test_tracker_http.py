"""The tracker's own HTTP protocol (tracker/http_fast.py) on a real tracker process:
BitTorrent connections are answered without uvicorn, anything else is handed to it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastbencode import bdecode  # type: ignore[attr-defined]

from minitorrent.driver import Tracker

from .sharing_helpers import tracker_port

ANNOUNCE = (
    b"GET /announce/%s?info_hash=%s&peer_id=-XX0001-000000000001&port=6881&left=0 %s\r\n"
    b"Host: tracker\r\n%s\r\n"
)
UNKNOWN = b"0123456789abcdef0123456789abcdef"


def announce(passkey: bytes = UNKNOWN, version: bytes = b"HTTP/1.1", extra: bytes = b"") -> bytes:
    return ANNOUNCE % (passkey, b"%AA" * 20, version, extra)


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class Connection:
    """A raw keep-alive connection that reads answers one by one."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.pending = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.pending += chunk
        return bool(chunk)

    def read(self) -> Response:
        while b"\r\n\r\n" not in self.pending:
            assert self._more(), f"closed before an answer: {self.pending!r}"
        head, _, self.pending = self.pending.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        length = int(headers["content-length"])
        while len(self.pending) < length:
            assert self._more(), "closed inside a body"
        body, self.pending = self.pending[:length], self.pending[length:]
        return Response(int(status_line.split()[1]), headers, body)

    def closed_by_peer(self) -> bool:
        return not self._more() and not self.pending

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def connect(tracker: Tracker, tracker_info: Path) -> Iterator[type[Connection]]:
    opened: list[Connection] = []
    port = tracker_port(tracker_info)

    class Opened(Connection):
        def __init__(self) -> None:
            super().__init__(port)
            opened.append(self)

    yield Opened
    for conn in opened:
        conn.close()


def failure_of(response: Response) -> bytes:
    assert response.status == 200, response.body
    reason: bytes = bdecode(response.body)[b"failure reason"]
    return reason


def test_keep_alive_and_pipelined_announces_are_answered_in_order(
    connect: type[Connection],
) -> None:
    conn = connect()
    conn.send(announce())
    assert failure_of(conn.read()) == b"unknown passkey"
    conn.send(announce() + announce(extra=b"Connection: keep-alive\r\n"))  # pipelined
    assert [failure_of(conn.read()) for _ in range(2)] == [b"unknown passkey"] * 2
    conn.send(announce(passkey=b"0" * 32)[:40])  # a request in two pieces
    conn.send(announce(passkey=b"0" * 32)[40:])
    assert failure_of(conn.read()) == b"unknown passkey"


def test_any_other_request_hands_the_connection_to_the_api(connect: type[Connection]) -> None:
    conn = connect()
    conn.send(announce())
    assert failure_of(conn.read()) == b"unknown passkey"
    conn.send(b"GET /api/v1/me HTTP/1.1\r\nHost: tracker\r\n\r\n" + announce())
    refused = conn.read()
    assert (refused.status, refused.headers["content-type"]) == (401, "application/json")
    assert failure_of(conn.read()) == b"unknown passkey"  # uvicorn's now, same answer


def test_connection_close_and_http_1_0_close_after_the_answer(
    connect: type[Connection],
) -> None:
    for request in (announce(version=b"HTTP/1.0"), announce(extra=b"Connection: close\r\n")):
        conn = connect()
        conn.send(request)
        response = conn.read()
        assert failure_of(response) == b"unknown passkey"
        assert response.headers["connection"] == "close"
        assert conn.closed_by_peer()


def test_odd_requests_get_uvicorns_answers(connect: type[Connection]) -> None:
    with_body = announce(extra=b"Content-Length: 3\r\n") + b"abc"
    conn = connect()
    conn.send(with_body)
    assert failure_of(conn.read()) == b"unknown passkey"  # answered by the ASGI route
    large = announce(extra=b"X-Filler: " + b"x" * 12_000 + b"\r\n")
    conn = connect()
    conn.send(large)
    assert failure_of(conn.read()) == b"unknown passkey"
    huge = announce(extra=b"X-Filler: " + b"x" * 20_000 + b"\r\n")
    conn = connect()
    conn.send(huge)  # over http_guard.MAX_HEAD: uvicorn's protocol refuses it
    refused = conn.read()
    assert (refused.status, refused.body) == (431, b"request head larger than 16384 bytes")
    conn = connect()  # and the tracker carries on
    conn.send(announce())
    assert failure_of(conn.read()) == b"unknown passkey"


def test_bad_heads_get_plain_answers_and_no_traceback(
    connect: type[Connection], tracker: Tracker
) -> None:
    conn = connect()  # a bad escape in the query: a bencoded failure, connection kept
    conn.send(b"GET /announce/%s?info_hash=%%ZZ%%&port=1 HTTP/1.1\r\n\r\n" % UNKNOWN)
    assert failure_of(conn.read()) == b"unknown passkey"
    conn.send(announce(passkey=b"%ZZ"))  # in the passkey: the ASGI route's answer
    assert failure_of(conn.read()) == b"unknown passkey"
    for garbage in (b"\x00\xff garbage\r\n\r\n", b"GET /announce/x HTTP/1.1\nHost: t\n\n"):
        conn = connect()
        conn.send(announce() + garbage)  # answered, then handed over: uvicorn's 400
        assert failure_of(conn.read()) == b"unknown passkey"
        refused = conn.read()
        assert (refused.status, refused.body) == (400, b"Invalid HTTP request received.")
        assert conn.closed_by_peer()
    assert not [line for line in tracker.lines if "Traceback" in line], tracker.lines
