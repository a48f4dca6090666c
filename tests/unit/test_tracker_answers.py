"""The tracker's answers read at the edge: a well-formed answer becomes typed values;
anything else is one MalformedAnswer naming what was wrong, never a KeyError or a
TypeError from deep inside a command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from minitorrent.errors import MalformedAnswer, MinitorrentError
from minitorrent.peer.tracker_answers import GroupEntry, LoginAnswer
from minitorrent.peer.tracker_client import TrackerClient
from minitorrent.trackers import TrackerAddress
from tests.unit.fake_transport import FakeTransport, json_answer

Call = Callable[[TrackerClient], Awaitable[object]]


def answer(body: Any) -> TrackerClient:
    """A tracker client whose one tracker answers every request with `body`."""
    transport = FakeTransport(lambda *_: json_answer(200, body))
    return TrackerClient([TrackerAddress("127.0.0.1", 1001)], transport=transport)


def ask(body: Any, call: Call) -> object:
    async def go() -> object:
        client = answer(body)
        try:
            return await call(client)
        finally:
            await client.aclose()

    return asyncio.run(go())


GROUP = {"group_id": "lab", "admin": "ann", "members": 2, "is_member": True, "pending": False}
PEER = {"peer_id": "ab" * 20, "ip": "127.0.0.1", "port": 6881, "seed": True, "user_id": "ann"}


def announce(client: TrackerClient) -> Awaitable[object]:
    return client.announce(
        info_hash=b"\1" * 20,
        peer_id=b"\2" * 20,
        ip="127.0.0.1",
        port=6881,
        uploaded=0,
        downloaded=0,
        left=0,
        event="",
        interval=30,
    )


def test_well_formed_answers_become_typed_values() -> None:
    login = {"token": "t", "passkey": "p", "idle_ttl": 60, "shared_database": False}
    assert ask(login, lambda c: c.login("ann", "pw")) == LoginAnswer("t", "p", 60.0, False)
    assert ask([GROUP], lambda c: c.list_groups()) == [GroupEntry("lab", "ann", 2, True, False)]


MALFORMED: list[tuple[str, Any, Call, str]] = [
    ("login without a token", {"passkey": "p"}, lambda c: c.login("ann", "pw"), "'token'"),
    (
        "a token that would break the next request's headers",
        {"token": "t\r\nX-Injected: 1", "passkey": "p"},
        lambda c: c.login("ann", "pw"),
        "'token' is not a bearer token",
    ),
    ("groups as an object", {"groups": [GROUP]}, lambda c: c.list_groups(), "expected a list"),
    (
        "a member count as text",
        [{**GROUP, "members": "2"}],
        lambda c: c.list_groups(),
        "'members' is not a whole number",
    ),
    ("a request that is a string", ["ann"], lambda c: c.list_requests("lab"), "an object"),
    ("a log entry without text", [{"at": "x"}], lambda c: c.group_log("lab"), "'text'"),
    ("file info not base64", {"info": "%%", "sha1": ""}, lambda c: c.file_info("g", "f"), "base64"),
    ("no answer at all", None, lambda c: c.list_members("lab"), "got nothing"),
    (
        "a peer id that is not hex",
        {"interval": 30, "peers": [{**PEER, "peer_id": "zz"}]},
        announce,
        "'peer_id' is not hexadecimal",
    ),
    (
        "a vouch without its verdict",
        {},
        lambda c: c.vouch(b"\1" * 20, b"\2" * 20, "::1"),
        "in_swarm",
    ),
]


@pytest.mark.parametrize(
    ("body", "call", "why"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_answer_is_one_clear_error(body: Any, call: Call, why: str) -> None:
    with pytest.raises(MalformedAnswer) as caught:
        ask(body, call)
    message = str(caught.value)
    assert message.startswith("the tracker sent a malformed answer (")
    assert why in message and "\n" not in message
    assert isinstance(caught.value, MinitorrentError)  # the shell prints it as one error: line
