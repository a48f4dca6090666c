"""The client's HTTP/1.1 client against a real loopback server that answers what each
test scripts: well-formed answers in every framing come back whole; a malformed,
truncated or missing answer is one HttpError whose reason a user can read."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from minitorrent.errors import TrackerUnreachable
from minitorrent.peer.http_client import (
    MAX_BODY,
    MAX_HEAD,
    HttpClient,
    HttpError,
    Request,
    Response,
)
from minitorrent.peer.tracker_client import TrackerClient
from minitorrent.trackers import TrackerAddress

T = TypeVar("T")
HANG = None  # scripted: read the request, never answer
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


class ScriptedServer:
    """Answers the n-th request with the n-th scripted bytes, on whatever connection it
    came; closes a connection after an answer when told to (`close_after`)."""

    def __init__(self, *answers: bytes | None, close_after: tuple[int, ...] = ()) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.requests: list[bytes] = []  # head and body of each request, as received
        self.connections = 0
        self._server: asyncio.Server | None = None
        self.address = TrackerAddress("127.0.0.1", 0)
        self._done = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.address = TrackerAddress("127.0.0.1", self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *_: object) -> None:
        self._done.set()
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0)
                if answer is HANG:
                    await self._done.wait()
                    return
                writer.write(answer)
                await writer.drain()
                if len(self.requests) in self.close_after:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def run(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(body())


def client(timeout: float = 5.0) -> HttpClient:
    return HttpClient(timeout=timeout, connect_timeout=timeout)


async def get(server: ScriptedServer, http: HttpClient, target: str = "/x") -> Response:
    return await http.request(Request(server.address, "GET", target, {}, replayable=True))


def exchange(*answers: bytes, close_after: tuple[int, ...] = ()) -> list[Response]:
    """One GET per scripted answer, over one HttpClient; the answers in order."""

    async def go() -> list[Response]:
        async with ScriptedServer(*answers, close_after=close_after) as server:
            http = client()
            try:
                return [await get(server, http) for _ in answers]
            finally:
                await http.aclose()

    return run(go)


def failure(*answers: bytes | None, timeout: float = 5.0) -> HttpError:
    """The error of a GET answered with `answers` (the last one is the GET's own)."""

    async def go() -> HttpError:
        async with ScriptedServer(*answers) as server:
            http = client(timeout)
            try:
                with pytest.raises(HttpError) as caught:
                    for _ in answers:
                        await get(server, http)
                return caught.value
            finally:
                await http.aclose()

    return run(go)


# -- well-formed answers ---------------------------------------------------------------


def test_a_request_arrives_as_sent_and_a_kept_alive_connection_is_reused() -> None:
    async def go() -> tuple[ScriptedServer, list[Response]]:
        answer = OK_HEAD + b'Content-Length: 11\r\n\r\n{"a": true}'
        async with ScriptedServer(answer, answer) as server:
            http = client()
            first = await http.request(
                Request(
                    server.address,
                    "POST",
                    "/api/v1/x?ip=%3A%3A1",
                    {"Authorization": "Bearer t", "Content-Type": "application/json"},
                    b'{"k":1}',
                )
            )
            second = await get(server, http)
            await http.aclose()
            return server, [first, second]

    server, answers = run(go)
    assert [(a.status, a.body) for a in answers] == [(200, b'{"a": true}')] * 2
    assert answers[0].headers["content-type"] == "application/json"
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/v1/x?ip=%3A%3A1 HTTP/1.1"
    port = server.address.port
    assert {f"Host: 127.0.0.1:{port}".encode(), b"Authorization: Bearer t"} <= set(lines)
    assert b"Content-Length: 7" in lines and body == b'{"k":1}'


def test_a_chunked_answer_with_extensions_and_trailers_is_read_whole() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n"
    )
    answers = exchange(chunked, OK_HEAD + b"Content-Length: 2\r\n\r\nok")
    assert [a.body for a in answers] == [b"hello world", b"ok"]


def test_an_answer_without_length_is_read_to_the_close_and_the_next_connects_anew() -> None:
    async def go() -> tuple[list[bytes], int]:
        until_close = b"HTTP/1.1 200 OK\r\n\r\nall of it"
        async with ScriptedServer(
            until_close, OK_HEAD + b"Content-Length: 2\r\n\r\nok", close_after=(1,)
        ) as server:
            http = client()
            bodies = [(await get(server, http)).body, (await get(server, http)).body]
            await http.aclose()
            return bodies, server.connections

    assert run(go) == ([b"all of it", b"ok"], 2)


def test_a_kept_alive_connection_the_server_closed_is_replaced_for_a_safe_request() -> None:
    # A tracker's keep-alive timeout closes the connection as the next request leaves.
    answer = OK_HEAD + b"Content-Length: 2\r\n\r\nok"
    assert [a.body for a in exchange(answer, answer, close_after=(1,))] == [b"ok", b"ok"]


def test_a_connection_idle_for_too_long_is_not_reused() -> None:
    # Reusing it would race the tracker's own keep-alive timeout.
    async def go() -> int:
        answer = OK_HEAD + b"Content-Length: 2\r\n\r\nok"
        async with ScriptedServer(answer, answer) as server:
            http = HttpClient(timeout=5, connect_timeout=5, reuse_idle_for=0.0)
            await get(server, http)
            await http.request(Request(server.address, "POST", "/x", {}, b"{}"))
            await http.aclose()
            return server.connections

    assert run(go) == 2


def test_a_request_not_safe_to_repeat_is_not_sent_again_on_a_new_connection() -> None:
    async def go() -> tuple[HttpError, int]:
        answer = OK_HEAD + b"Content-Length: 2\r\n\r\nok"
        async with ScriptedServer(answer, answer, close_after=(1,)) as server:
            http = client()
            await get(server, http)
            with pytest.raises(HttpError) as caught:
                await http.request(Request(server.address, "POST", "/x", {}, b"{}"))
            await http.aclose()
            return caught.value, server.connections

    error, connections = run(go)
    assert (error.reason, error.never_sent, connections) == ("connection lost", False, 1)


def test_an_interim_100_continue_is_skipped_and_204_has_no_body() -> None:
    answers = exchange(
        b"HTTP/1.1 100 Continue\r\n\r\n" + OK_HEAD + b"Content-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    )
    assert [(a.status, a.body) for a in answers] == [(200, b"{}"), (204, b"")]


def test_the_answer_to_head_has_no_body_whatever_its_length_says() -> None:
    async def go() -> list[Response]:
        answers = (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            OK_HEAD + b"Content-Length: 2\r\n\r\nok",
        )
        async with ScriptedServer(*answers) as server:
            http = client()
            head = await http.request(Request(server.address, "HEAD", "/x", {}))
            after = await get(server, http)
            await http.aclose()
            return [head, after]

    assert [(a.status, a.body) for a in run(go)] == [(200, b""), (200, b"ok")]


# -- malformed, truncated and missing answers ------------------------------------------

MALFORMED = [
    ("not HTTP at all", b"SSH-2.0-OpenSSH\r\n\r\n", "a status line that is not HTTP/1.x"),
    ("no status code", b"HTTP/1.1 OK\r\n\r\n", "a status line without a status code"),
    ("a header without colon", b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "not 'name: value'"),
    ("a folded header", b"HTTP/1.1 200 OK\r\nA: b\r\n  c\r\n\r\n", "not 'name: value'"),
    (
        "a length that is not a number",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "a Content-Length that is not a number",
    ),
    (
        "two different lengths",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        "a Content-Length that is not a number",
    ),
    (
        "a length past the limit",
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1),
        "a body larger than 64 MiB",
    ),
    (
        "a chunk size that is not hex",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "a chunk size that is not hexadecimal: 'zz'",
    ),
    (
        "a chunk longer than its size",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
        "a chunk longer than its size says",
    ),
    (
        "a compressed body nobody asked for",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "unasked-for transfer coding 'gzip'",
    ),
    (
        "an endless header",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD,
        f"a header line longer than {MAX_HEAD} bytes",
    ),
    ("a switch to another protocol", b"HTTP/1.1 101 Switching\r\n\r\n", "switched protocols"),
]


@pytest.mark.parametrize(
    ("answer", "why"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_answer_is_one_clear_error(answer: bytes, why: str) -> None:
    error = failure(answer)
    assert error.reason.startswith("its answer is not valid HTTP (") and why in error.reason
    assert not error.never_sent  # the request reached the server: not sent twice


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf",  # dies mid-body
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",  # mid-chunk
        b"HTTP/1.1 200 OK\r\nContent-",  # mid-head
        b"",  # closes without a word (as a server killed after the request arrived)
    ],
    ids=["mid-body", "mid-chunk", "mid-head", "nothing"],
)
def test_a_truncated_answer_is_connection_lost(answer: bytes) -> None:
    async def go() -> HttpError:
        async with ScriptedServer(answer, close_after=(1,)) as server:
            http = client()
            with pytest.raises(HttpError) as caught:
                await get(server, http)
            await http.aclose()
            return caught.value

    error = run(go)
    assert (error.reason, error.never_sent) == ("connection lost", False)


def test_no_answer_within_the_timeout_is_timed_out() -> None:
    error = failure(HANG, timeout=0.3)
    assert (error.reason, error.never_sent) == ("timed out", False)


def test_a_refused_connection_was_never_sent() -> None:
    with socket.socket() as closed:  # bound, not listening: refuses connections
        closed.bind(("127.0.0.1", 0))
        server = TrackerAddress("127.0.0.1", closed.getsockname()[1])

        async def go() -> None:
            await client().request(Request(server, "POST", "/x", {}, b"{}"))

        with pytest.raises(HttpError) as caught:
            run(go)
    assert (caught.value.reason, caught.value.never_sent) == ("connection refused", True)


def test_https_to_a_plain_http_server_is_a_failed_handshake() -> None:
    async def answer_in_plain(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        writer.close()

    async def go() -> HttpError:
        plain = await asyncio.start_server(answer_in_plain, "127.0.0.1", 0)
        address = TrackerAddress("127.0.0.1", plain.sockets[0].getsockname()[1], "https")
        try:
            with pytest.raises(HttpError) as caught:
                await client().request(Request(address, "GET", "/x", {}))
            return caught.value
        finally:
            plain.close()

    error = run(go)
    assert error.reason.startswith("TLS handshake failed (") and error.never_sent


def test_a_tracker_answering_garbage_is_one_user_facing_error() -> None:
    """What the shell prints after error: for a tracker (or a proxy) speaking nonsense."""

    async def go() -> str:
        async with ScriptedServer(b"garbage\r\n\r\n") as server:
            tracker = TrackerClient([server.address], timeout=5)
            try:
                with pytest.raises(TrackerUnreachable) as caught:
                    await tracker.list_groups()
            finally:
                await tracker.aclose()
            return f"{caught.value}|{server.address}"

    message, url = run(go).split("|")
    assert message == (
        f"no tracker answered (last: {url}: its answer is not valid HTTP "
        "(a status line that is not HTTP/1.x: 'garbage'))"
    )
