"""Request heads and bodies a hostile client controls, over real sockets against a real
tracker process: too large is refused before it is buffered, too slow is cut off."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minitorrent.driver import Tracker
from minitorrent.tracker.api.body_limit import DEFAULT_LIMIT
from minitorrent.tracker.api.files import MAX_BODY as FILES_LIMIT

from .sharing_helpers import MiB, tracker_port

HEAD_TIMEOUT = 1.0
SLOW_CLIENTS = {
    "MINITORRENT_TRACKER_REQUEST_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
    "MINITORRENT_TRACKER_REQUEST_BODY_GRACE": str(HEAD_TIMEOUT),
}
# The timers look at a connection at least once per timeout: closed within two.
CUT_OFF = 2 * HEAD_TIMEOUT + 1.5


@pytest.fixture
def tracker_address(
    start_tracker: Callable[..., Tracker], tracker_info: Path
) -> Iterator[tuple[str, int]]:
    yield "127.0.0.1", tracker_port(tracker_info)


@pytest.fixture
def guarded(start_tracker: Callable[..., Tracker], tracker_info: Path) -> Tracker:
    return start_tracker(env=SLOW_CLIENTS)


def _connect(tracker_info: Path) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", tracker_port(tracker_info)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: tracker", *headers, "", ""]
    return "\r\n".join(lines).encode()


def _answer(sock: socket.socket, timeout: float = 5.0) -> tuple[int, bytes]:
    """The status and body of the answer; the connection must then be closed."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _peak_memory(pid: int) -> int:
    """The most memory the process ever had resident (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def _json_error(body: bytes) -> str:
    answer = json.loads(body)
    assert set(answer) == {"error", "message"}, answer
    return str(answer["error"])


def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    guarded: Tracker, tracker_info: Path
) -> None:
    with _connect(tracker_info) as sock:
        start = time.monotonic()
        sock.sendall(_head("POST", "/api/v1/users", "Content-Length: 150000000"))
        status, body = _answer(sock)  # not one byte of the body was sent
        assert time.monotonic() - start < 2
    assert (status, _json_error(body)) == (413, "body_too_large")
    assert json.loads(body)["message"] == f"request body larger than {DEFAULT_LIMIT} bytes"


def test_file_registration_alone_takes_large_bodies(guarded: Tracker, tracker_info: Path) -> None:
    path = "/api/v1/groups/lab/files"
    for size, expected in ((FILES_LIMIT, 401), (FILES_LIMIT + 1, 413)):
        with _connect(tracker_info) as sock:
            sock.sendall(_head("POST", path, f"Content-Length: {size}"))
            if expected != 413:
                sock.sendall(b" " * size)  # the body is read, then the caller is asked for
            status, body = _answer(sock, timeout=30)
        assert status == expected, body
    # Any other route: the default limit.
    with _connect(tracker_info) as sock:
        sock.sendall(_head("POST", "/api/v1/groups", f"Content-Length: {DEFAULT_LIMIT + 1}"))
        assert _answer(sock)[0] == 413


def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    guarded: Tracker, tracker_info: Path
) -> None:
    chunk = b"x" * 16384
    with _connect(tracker_info) as sock:
        sock.sendall(_head("POST", "/api/v1/users", "Transfer-Encoding: chunked"))
        for _ in range(DEFAULT_LIMIT // len(chunk) + 1):  # past the limit; never ended
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, body = _answer(sock)
    assert (status, _json_error(body)) == (413, "body_too_large")


def _seconds_until_closed(sock: socket.socket, drip: bytes, limit: float) -> float:
    """Send `drip` a byte at a time, one per 0.2 s of no answer; how long until the
    tracker closed the connection (or `limit`, if it never did)."""
    start = time.monotonic()
    sock.settimeout(0.2)
    for byte in drip:
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(65536) == b"":  # closed (an answer may come first)
                return time.monotonic() - start
        except TimeoutError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            break
    return limit


@pytest.mark.parametrize("big_head_first", [False, True], ids=["head", "big-head"])
def test_a_slow_request_head_is_cut_off(
    guarded: Tracker, tracker_info: Path, big_head_first: bool
) -> None:
    """A head a byte at a time (slowloris); or first 12 KiB of headers, past what the
    BitTorrent fast path reads before handing the connection to uvicorn's protocol."""
    with _connect(tracker_info) as sock:
        start = b"GET /api/v1/me HTTP/1.1\r\nHost: tracker\r\n"
        if big_head_first:
            start += b"X-Pad: " + b"p" * 12288 + b"\r\n"
        sock.sendall(start)
        seconds = _seconds_until_closed(sock, b"X-Slow: " + b"s" * 200, limit=10)
    assert seconds < CUT_OFF


def test_a_slow_body_is_cut_off(guarded: Tracker, tracker_info: Path) -> None:
    with _connect(tracker_info) as sock:
        sock.sendall(_head("POST", "/api/v1/users", "Content-Length: 1000") + b'{"user_id"')
        seconds = _seconds_until_closed(sock, b"x" * 200, limit=10)
    assert seconds < CUT_OFF


@pytest.mark.timeout(120)
def test_a_flood_of_body_does_not_grow_the_tracker(guarded: Tracker, tracker_info: Path) -> None:
    """64 MiB of chunked body before any login: it took the tracker from 92 to 555 MB
    (150 MB) before it was refused unbuffered."""
    before = _peak_memory(guarded.popen.pid)
    chunk = b"{" * MiB
    with _connect(tracker_info) as sock:
        sock.sendall(_head("POST", "/api/v1/users", "Transfer-Encoding: chunked"))
        try:
            for _ in range(64):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
            status, _ = _answer(sock, timeout=60)
        except (ConnectionResetError, BrokenPipeError):
            status = 413  # refused and closed while we were still sending
    grown = _peak_memory(guarded.popen.pid) - before
    assert status == 413 and grown < 16 * MiB, (status, grown / MiB)
