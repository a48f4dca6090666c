"""Reads BitTorrent requests from a connection's bytes, without I/O (http_fast.py's parser).

Bytes go in with `feed`; `next_request` gives the next complete request the fast path
answers itself, None while a head is incomplete, or HAND_OVER for anything else (another
path or method, a body, an upgrade, a malformed head): from then on the connection and
`pending` (the bytes from that request's first byte on) are uvicorn's.

Heads are parsed by httptools (llhttp, the parser uvicorn itself uses). It requires CRLF
line ends, so a head ends at the first blank line: that is where a request without a
body ends too, and what lets pipelined requests be answered and the rest be handed over
byte-exact.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import httptools

from minitorrent.tracker.http_guard import MAX_HEAD

_ANNOUNCE, _SCRAPE = b"/announce/", b"/scrape/"
# The request line's end: llhttp has checked its form, so the version is its last token
# (httptools' get_http_version formats a string: 4 % of an announce's instructions).
_VERSIONS = (b" HTTP/1.1", b" HTTP/1.0")
_END = b"\r\n\r\n"


class Request(NamedTuple):
    prefix: str  # "/announce/" or "/scrape/"
    passkey: str
    query: bytes  # raw: announce.py decodes it
    close: bool  # close the connection after the answer


class _HandOver:
    def __repr__(self) -> str:
        return "HAND_OVER"


HAND_OVER: Final = _HandOver()


class RequestReader:
    def __init__(self) -> None:
        self.pending = bytearray()  # from the first byte of the next request on
        self._parser = httptools.HttpRequestParser(self)
        self._fed = 0  # bytes of `pending` the parser has seen
        self._url = b""
        self._complete = False
        self._keep_alive = False
        self._handed_over = False

    def feed(self, data: bytes) -> None:
        self.pending += data

    def next_request(self) -> Request | _HandOver | None:
        if self._handed_over:
            return HAND_OVER
        if not self.pending:  # all answered: the usual case after each request
            return None
        end = self.pending.find(_END, self._fed - 3 if self._fed > 3 else 0, MAX_HEAD + 4)
        if end < 0:
            if len(self.pending) > MAX_HEAD:  # uvicorn's guard refuses it (431)
                return self._hand_over()
            # An incomplete head goes to the parser too: garbage is refused at once.
            return None if self._parse(len(self.pending)) else self._hand_over()
        end += len(_END)
        if not self._parse(end):
            return self._hand_over()
        request = self._request()
        if request is None:
            return self._hand_over()
        del self.pending[:end]
        self._fed = 0
        return request

    def _hand_over(self) -> _HandOver:
        self._handed_over = True  # our parser may be mid-message or failed: never reused
        return HAND_OVER

    def _parse(self, end: int) -> bool:
        """Feeds the parser `pending` up to `end`; False if it refused it."""
        if self._fed == 0:
            self._url, self._complete = b"", False
        pending = self.pending
        try:
            # httptools reads any buffer: the whole of `pending` (the usual case) uncopied.
            self._parser.feed_data(
                pending if end == len(pending) and not self._fed else pending[self._fed : end]
            )
        except httptools.HttpParserError:  # malformed: uvicorn's 400 answers it
            return False
        except httptools.HttpParserUpgrade:
            return False
        self._fed = end
        return True

    def _request(self) -> Request | None:
        """The request of the head just parsed, if the fast path answers it."""
        # A body (Content-Length, chunked) leaves the message incomplete at the head's end.
        # The method and version from the request line llhttp has checked: its getters
        # build new objects.
        head = self.pending
        if not self._complete or not head.startswith(b"GET "):
            return None
        if not head.endswith(_VERSIONS, 0, head.find(b"\r\n")):
            return None
        path, _, query = self._url.partition(b"?")
        if path.startswith(_ANNOUNCE):
            prefix = _ANNOUNCE
        elif path.startswith(_SCRAPE):
            prefix = _SCRAPE
        else:
            return None
        passkey = path[len(prefix) :]
        if not passkey or not passkey.isalnum() or not passkey.isascii():
            return None  # '/', '%' or anything odder: uvicorn decodes and routes it
        return Request(prefix.decode(), passkey.decode(), query, not self._keep_alive)

    # -- httptools' callbacks --------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_headers_complete(self) -> None:
        # Only here: once the message is complete llhttp has forgotten `Connection:`.
        self._keep_alive = self._parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self._complete = True
