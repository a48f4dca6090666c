"""A tracker answering something malformed: the shell prints one error: line, no
traceback, and the client is not left half logged in."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from minitorrent.client.commands import Client
from minitorrent.client.shell import Shell
from minitorrent.peer.node import PeerNode
from minitorrent.peer.tracker_client import TrackerClient
from minitorrent.trackers import TrackerAddress
from tests.unit.fake_transport import FakeTransport, json_answer


def test_a_malformed_login_answer_is_one_error_line(tmp_path: Path) -> None:
    async def go() -> tuple[str, str, bool]:
        answer = FakeTransport(lambda *_: json_answer(201, {"passkey": "p"}))
        tracker = TrackerClient([TrackerAddress("127.0.0.1", 1001)], transport=answer)
        node = PeerNode(
            host="127.0.0.1", port=0, advertise=None, tracker=tracker, peer_id=b"p" * 20
        )
        client = Client(tracker=tracker, node=node, state_dir=tmp_path, notify=lambda _: None)
        out, err = io.StringIO(), io.StringIO()
        shell = Shell(client, out, err, interactive=False)
        try:
            await shell.run_line("login ann secret", 3)
        finally:
            await tracker.aclose()
        return out.getvalue(), err.getvalue(), client.session is None

    out, err, logged_out = asyncio.run(go())
    assert out == ""
    assert err == "error: line 3: the tracker sent a malformed answer (login: 'token' is missing)\n"
    assert logged_out
