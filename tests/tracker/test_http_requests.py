"""The fast path's request reader (tracker/http_requests.py): bytes in, requests out,
however the bytes are split, and everything it does not answer handed over byte-exact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitorrent.tracker.http_guard import MAX_HEAD
from minitorrent.tracker.http_requests import HAND_OVER, Request, RequestReader

PASSKEY = "0123456789abcdef0123456789abcdef"
QUERY = b"info_hash=%AA%BB&peer_id=-XX0001-000000000001&port=6881&left=0"
ANNOUNCE = b"GET /announce/%s?%s HTTP/1.1\r\nHost: tracker\r\n\r\n" % (PASSKEY.encode(), QUERY)
SCRAPE_10 = b"GET /scrape/%s?info_hash=%%AA HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % (
    PASSKEY.encode()
)
CLOSING = b"GET /announce/%s?%s HTTP/1.1\r\nConnection: close\r\n\r\n" % (PASSKEY.encode(), QUERY)
API = b"POST /api/v1/login HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"

EXPECTED = [
    Request("/announce/", PASSKEY, QUERY, False),
    Request("/scrape/", PASSKEY, b"info_hash=%AA", False),
    Request("/announce/", PASSKEY, QUERY, True),
]


def read_all(reader: RequestReader) -> list[object]:
    out: list[object] = []
    while (item := reader.next_request()) is not None:
        out.append(item)
        if item is HAND_OVER:
            break
    return out


def read_in_pieces(data: bytes, cuts: list[int]) -> tuple[list[object], bytes]:
    """What the reader gives when `data` arrives cut at `cuts`, and what it hands over."""
    reader = RequestReader()
    out: list[object] = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        reader.feed(data[start:end])
        out += read_all(reader)
        if out and out[-1] is HAND_OVER:
            reader.feed(data[end:])
            break
    return out, bytes(reader.pending)


def test_pipelined_requests_are_read_in_order() -> None:
    assert read_in_pieces(ANNOUNCE + SCRAPE_10 + CLOSING, []) == (EXPECTED, b"")


def test_a_request_split_at_every_byte_boundary_reads_the_same() -> None:
    data = ANNOUNCE + SCRAPE_10
    for cut in range(len(data) + 1):
        assert read_in_pieces(data, [cut]) == (EXPECTED[:2], b""), cut


@given(st.lists(st.integers(0, len(ANNOUNCE + SCRAPE_10 + API)), max_size=12))
def test_any_split_reads_the_same_and_hands_over_the_rest_byte_exact(cuts: list[int]) -> None:
    data = ANNOUNCE + SCRAPE_10 + API
    assert read_in_pieces(data, sorted(cuts)) == ([*EXPECTED[:2], HAND_OVER], API)


def hand_over_of(head: bytes) -> bytes:
    """What the reader hands over when `head` follows an announce, which it answers."""
    out, pending = read_in_pieces(ANNOUNCE + head, [])
    assert out == [EXPECTED[0], HAND_OVER]
    return pending


@pytest.mark.parametrize(
    "head",
    [
        b"GET /api/v1/me HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /announce/%s HTTP/1.1\r\n\r\n" % PASSKEY.encode(),
        b"GET /announce/ HTTP/1.1\r\n\r\n",
        b"GET /announce/%41bc HTTP/1.1\r\n\r\n",  # percent-escaped passkey: uvicorn decodes
        b"GET /announce/%ZZ HTTP/1.1\r\n\r\n",  # and answers a bad escape itself
        b"GET /announce/a/b HTTP/1.1\r\n\r\n",
        b"GET /announce/abc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /announce/abc HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /announce/abc HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        # malformed: uvicorn's protocol answers 400
        b"\x00\xff garbage\r\n\r\n",
        b"GET /announce/abc HTTP/9.9\r\n\r\n",
        b"GET /announce/abc HTTP/1.1\nHost: bare-newlines\n\n\r\n\r\n",
        b"GET /announce/a bc HTTP/1.1\r\n\r\n",
        b"GET /announce/abc HTTP/1.1\r\nNo colon here\r\n\r\n",
    ],
)
def test_other_or_malformed_requests_are_handed_over_from_their_first_byte(head: bytes) -> None:
    assert hand_over_of(head) == head


def test_a_head_over_the_limit_is_handed_over_before_its_end() -> None:
    huge = b"GET /announce/abc HTTP/1.1\r\nX-Filler: " + b"x" * MAX_HEAD
    assert hand_over_of(huge) == huge
    reader = RequestReader()
    reader.feed(huge[:MAX_HEAD])
    assert reader.next_request() is None  # up to the limit it waits for more


def test_bad_percent_escapes_in_the_query_reach_the_announce_code_unchanged() -> None:
    head = b"GET /announce/abc?info_hash=%ZZ%&port=x HTTP/1.1\r\n\r\n"
    assert read_in_pieces(head, []) == (
        [Request("/announce/", "abc", b"info_hash=%ZZ%&port=x", False)],
        b"",
    )


def test_http_1_0_closes_unless_kept_alive() -> None:
    head = b"GET /scrape/abc HTTP/1.0\r\n\r\n"
    assert read_in_pieces(head, []) == ([Request("/scrape/", "abc", b"", True)], b"")


def test_garbage_is_handed_over_before_its_head_ends() -> None:
    for start in (b"\x00\xff", b"GET /announce/abc HTTP/1.1\nHost"):
        reader = RequestReader()
        reader.feed(start)
        assert (reader.next_request(), bytes(reader.pending)) == (HAND_OVER, start)
