"""TrackerClient failover: which failures move a request to the next tracker, and how a
retry that finds its own earlier work done is reported."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from minitorrent.errors import TrackerRefused, TrackerUnreachable
from minitorrent.peer.http_client import HttpError, Response
from minitorrent.peer.tracker_answers import Me
from minitorrent.peer.tracker_client import RETRY_FAILED_AFTER, TrackerClient
from minitorrent.trackers import TrackerAddress
from tests.unit.fake_transport import FakeTransport, json_answer

T = TypeVar("T")
FIRST, SECOND = TrackerAddress("127.0.0.1", 1001), TrackerAddress("127.0.0.1", 1002)
# What a tracker does with a request: answer it, or raise the HTTP client's error.
Behaviour = Callable[[], Response]


def refused() -> Response:
    raise HttpError("connection refused", never_sent=True)


def died_mid_request() -> Response:
    # kill -9 after the request arrived: the connection closes without an answer.
    raise HttpError("connection lost")


def answers(status: int, body: Any = None) -> Behaviour:
    return lambda: json_answer(status, body)


def conflict(code: str) -> Behaviour:
    return answers(409, {"error": code, "message": f"refused: {code}"})


class FakeTrackers:
    """Two trackers behind a mock transport; records which one each request reached."""

    def __init__(self, first: Behaviour, second: Behaviour) -> None:
        self.behaviour = {FIRST.port: first, SECOND.port: second}
        self.calls: list[int] = []
        self.now = 0.0
        self.client = TrackerClient(
            [FIRST, SECOND], clock=lambda: self.now, transport=FakeTransport(self._handle)
        )

    def _handle(self, server: TrackerAddress, method: str, target: str) -> Response:
        self.calls.append(server.port)
        return self.behaviour[server.port]()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def test_refused_tracker_is_skipped_then_tried_first_again_after_a_while() -> None:
    fake = FakeTrackers(refused, answers(200, []))
    assert run(fake.client.list_groups()) == []
    assert fake.calls == [FIRST.port, SECOND.port] and fake.client.last_answered == 1
    assert fake.client.health()[0] == RETRY_FAILED_AFTER and fake.client.health()[1] is None

    run(fake.client.list_groups())  # the failed one is not tried first for a while
    assert fake.calls[2:] == [SECOND.port]

    fake.behaviour[FIRST.port] = answers(200, [])
    fake.now += RETRY_FAILED_AFTER  # "when the first tracker comes back"
    run(fake.client.list_groups())
    assert fake.calls[3:] == [FIRST.port] and fake.client.last_answered == 0
    assert fake.client.health() == [None, None]


@pytest.mark.parametrize("failure", [died_mid_request, answers(503), answers(500)])
def test_idempotent_request_fails_over_when_the_tracker_dies_or_fails(
    failure: Behaviour,
) -> None:
    fake = FakeTrackers(failure, answers(200, {"user_id": "ann", "passkey": "p"}))
    assert run(fake.client.me()) == Me("ann", "p")
    assert fake.calls == [FIRST.port, SECOND.port]


@pytest.mark.parametrize("failure", [died_mid_request, answers(503)])
def test_non_idempotent_request_is_not_sent_twice(failure: Behaviour) -> None:
    fake = FakeTrackers(failure, answers(200, {"passkey": "p"}))
    with pytest.raises(TrackerUnreachable, match="1001"):
        run(fake.client.rotate_passkey())
    assert fake.calls == [FIRST.port]


def connect_timeout() -> Response:
    raise HttpError("timed out", never_sent=True)  # no SYN-ACK


@pytest.mark.parametrize("failure", [refused, connect_timeout])
def test_non_idempotent_request_that_never_left_goes_to_the_next_tracker(
    failure: Behaviour,
) -> None:
    fake = FakeTrackers(failure, answers(200, {"passkey": "p"}))
    assert run(fake.client.rotate_passkey()) == "p"


def test_no_tracker_answering_is_one_clear_error() -> None:
    fake = FakeTrackers(refused, refused)
    with pytest.raises(TrackerUnreachable, match=r"no tracker answered .*1002.*refused"):
        run(fake.client.list_groups())


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c: c.create_user("ann", "pw"), "user_exists"),
        (lambda c: c.create_group("lab"), "group_exists"),
        (lambda c: c.join_group("lab"), "request_pending"),
        (lambda c: c.answer_request("lab", "bob", accept=True), "no_such_request"),
        (lambda c: c.remove_member("lab", "bob"), "no_such_member"),
        (lambda c: c.stop_share("lab", "f.bin"), "no_such_file"),
        (lambda c: c.logout(), "not_logged_in"),
    ],
)
def test_retry_that_finds_its_lost_attempt_done_succeeds(
    call: Callable[[TrackerClient], Coroutine[Any, Any, object]], code: str
) -> None:
    """Tracker 1 did it and died before answering: "already exists" from tracker 2 is
    the lost attempt's work, not an error to show the user."""
    fake = FakeTrackers(died_mid_request, conflict(code))
    run(call(fake.client))
    assert fake.calls == [FIRST.port, SECOND.port]


def test_leave_group_whose_answer_was_lost_reports_left() -> None:
    fake = FakeTrackers(died_mid_request, conflict("not_member"))
    assert run(fake.client.leave_group("lab")) == "left"


def test_the_same_refusal_without_a_lost_attempt_is_an_error() -> None:
    fake = FakeTrackers(conflict("user_exists"), answers(201))
    with pytest.raises(TrackerRefused, match="user_exists"):
        run(fake.client.create_user("ann", "pw"))
    assert fake.calls == [FIRST.port]


def test_refusal_after_a_refused_connection_is_an_error_too() -> None:
    # A refused connection proves the first attempt did nothing.
    fake = FakeTrackers(refused, conflict("user_exists"))
    with pytest.raises(TrackerRefused, match="user_exists"):
        run(fake.client.create_user("ann", "pw"))
