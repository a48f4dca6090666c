"""A "tracker" (or a proxy in front of one) that does not speak HTTP: the client process
prints one error: line naming what was wrong, and carries on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.driver import Client


class ScriptedListener:
    """Reads a request's head on each connection, answers `answer` and closes."""

    def __init__(self, answer: bytes) -> None:
        self._answer = answer
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            with conn:
                conn.settimeout(10)
                received = b""
                while b"\r\n\r\n" not in received and (data := conn.recv(65536)):
                    received += data
                conn.sendall(self._answer)

    def close(self) -> None:
        self._sock.close()
        self._thread.join(5)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"220 smtp.example ESMTP\r\n\r\n", r"a status line that is not HTTP/1\.x: '220 smtp"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnope\r\n",
            r"a chunk size that is not hexadecimal: 'nope'",
        ),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200_000, r"a header line longer than 65536 bytes"),
    ],
    ids=["not-http", "bad-chunk", "endless-header"],
)
def test_an_answer_that_is_not_http_is_one_error_line(
    start_client: Callable[..., Client], tmp_path: Path, answer: bytes, why: str
) -> None:
    listener = ScriptedListener(answer)
    try:
        info = tmp_path / "not_http.txt"
        info.write_text(f"127.0.0.1:{listener.port}\n")
        client = start_client(info=info)
        client.fails(
            "login alice pw",
            rf"^error: no tracker answered \(last: http://127\.0\.0\.1:"
            rf"{listener.port}: .*{why}",
        )
        assert client.ok("echo 'still here'") == ["still here"]
    finally:
        listener.close()
