"""A small asyncio HTTP/1.1 client: what the client process needs to talk to trackers.

A general HTTP library and its imports cost a client process about 12 MiB of memory
for a few small JSON requests. This one sends a request with a body of bytes and reads
the answer: kept-alive connections per server (one while requests do not overlap),
Content-Length, chunked and read-to-close bodies, a connect timeout (TLS handshake
included) and a timeout on each read and write, HTTPS with the caller's SSLContext
(which alone decides what is trusted; tls.client_context() when none is given).
Whatever else a server sends is one HttpError whose reason is fit to show a user,
never a traceback.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from minitorrent.tls import client_context
from minitorrent.trackers import TrackerAddress

T = TypeVar("T")

MAX_HEAD = 64 * 1024  # status line and headers; a tracker's are a few hundred bytes
# An answer can hold a folder's info dictionary: up to 16 MiB, base64 in JSON.
MAX_BODY = 64 * 1024 * 1024
IDLE_PER_SERVER = 2  # kept-alive connections kept per server; more are closed
# A connection idle this long is not reused: a tracker closes idle ones after 5 s
# (uvicorn's default), and a request sent as that close crosses it would be lost.
REUSE_IDLE_FOR = 4.0
_READ_SIZE = 64 * 1024


class HttpError(Exception):
    """A request that got no usable answer."""

    def __init__(self, reason: str, *, never_sent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason  # fit to print after the server's address
        # The request cannot have reached the server: sending it elsewhere cannot double it.
        self.never_sent = never_sent


class MalformedHttp(HttpError):
    """The server's answer is not HTTP/1.1 as this client reads it."""

    def __init__(self, why: str) -> None:
        super().__init__(f"its answer is not valid HTTP ({why})")


@dataclass(frozen=True, slots=True)
class Request:
    server: TrackerAddress
    method: str
    target: str  # origin form ("/path?query"), already percent-encoded
    headers: Mapping[str, str]
    body: bytes = b""
    # Safe to repeat: sent again on a new connection when a kept-alive one ends without
    # answering (the server closed it, its keep-alive timeout, as the request left).
    replayable: bool = False

    def __post_init__(self) -> None:
        target = self.target
        if not (target.startswith("/") and target.isascii() and target.isprintable()) or (
            " " in target
        ):
            raise ValueError(f"not an encoded request target: {target!r}")  # a caller's bug
        for name, value in self.headers.items():
            if not (value.isascii() and value.isprintable()):
                raise ValueError(f"header {name} holds control characters")  # a caller's bug


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names in lower case; repeated ones joined by ", "
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


class NoAnswer(HttpError):
    """The connection ended before one byte of an answer arrived."""

    def __init__(self) -> None:
        super().__init__("connection lost")


class Transport(Protocol):
    """What a TrackerClient sends its requests through (tests give it fakes)."""

    async def request(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False  # it has carried a request before
    idle_since: float = 0.0  # time.monotonic() when its last answer ended

    def usable(self) -> bool:
        """False once the server has closed it (e.g. its keep-alive timeout passed)."""
        return not (self.reader.at_eof() or self.writer.transport.is_closing())

    def close(self) -> None:
        self.writer.close()


class HttpClient:
    def __init__(
        self,
        *,
        timeout: float,
        connect_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "minitorrent",
        reuse_idle_for: float = REUSE_IDLE_FOR,
    ) -> None:
        self._timeout = timeout
        self._reuse_idle_for = reuse_idle_for
        self._connect_timeout = connect_timeout
        self._ssl = ssl_context
        self._user_agent = user_agent
        self._idle: dict[TrackerAddress, list[_Connection]] = {}
        self._closed = False

    async def request(self, request: Request) -> Response:
        kept = self._idle_connection(request.server)
        if kept is not None:
            try:
                return await self._exchange(kept, request)
            except NoAnswer:
                if not request.replayable:
                    raise
        try:
            connection = await self._connect(request.server)
        except HttpError as exc:
            if kept is not None:  # the first attempt may have arrived after all
                raise HttpError(exc.reason) from None
            raise
        return await self._exchange(connection, request)

    async def aclose(self) -> None:
        self._closed = True
        idle = [c for connections in self._idle.values() for c in connections]
        self._idle.clear()
        for connection in idle:
            connection.close()
        for connection in idle:
            try:
                async with asyncio.timeout(1.0):
                    await connection.writer.wait_closed()
            except (OSError, ssl.SSLError, TimeoutError):
                pass  # closing anyway: nothing is waiting for an answer on it

    # -- connections --------------------------------------------------------------------

    def _idle_connection(self, server: TrackerAddress) -> _Connection | None:
        idle = self._idle.get(server, [])
        while idle:
            connection = idle.pop()
            fresh = time.monotonic() - connection.idle_since < self._reuse_idle_for
            if fresh and connection.usable():
                return connection
            connection.close()
        return None

    async def _connect(self, server: TrackerAddress) -> _Connection:
        context = None
        if server.scheme == "https":
            if self._ssl is None:
                self._ssl = client_context()  # loading the system's CAs costs ~2 MiB: not before
            context = self._ssl
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    server.host,
                    server.port,
                    ssl=context,
                    server_hostname=server.host if context is not None else None,
                    limit=MAX_HEAD,
                )
        except TimeoutError:
            raise HttpError("timed out", never_sent=True) from None
        except ssl.SSLCertVerificationError:
            raise HttpError(
                "its TLS certificate is not trusted (see --ca-cert)", never_sent=True
            ) from None
        except ssl.SSLError as exc:
            raise HttpError(
                f"TLS handshake failed ({exc.reason or exc})", never_sent=True
            ) from None
        except ConnectionRefusedError:
            raise HttpError("connection refused", never_sent=True) from None
        except socket.gaierror as exc:
            raise HttpError(
                f"cannot resolve {server.host} ({exc.strerror})", never_sent=True
            ) from None
        except OSError as exc:
            raise HttpError(
                f"cannot connect ({exc.strerror or type(exc).__name__})", never_sent=True
            ) from None
        return _Connection(reader, writer)

    # -- one exchange -------------------------------------------------------------------

    async def _exchange(self, connection: _Connection, request: Request) -> Response:
        keep = False
        server = request.server
        try:
            await self._guard(self._send(connection, request), first=True)
            head_only = request.method == "HEAD"
            response, keep = await self._read_response(connection, head_only=head_only)
            return response
        finally:
            if keep and not self._closed and len(self._idle.get(server, ())) < IDLE_PER_SERVER:
                connection.reused = True
                connection.idle_since = time.monotonic()
                self._idle.setdefault(server, []).append(connection)
            else:
                connection.close()

    async def _guard(self, step: Awaitable[T], *, first: bool = False) -> T:
        """One read or write of an exchange, under the timeout; failures as HttpError.
        `first`: nothing of the answer has arrived before this step."""
        try:
            async with asyncio.timeout(self._timeout):
                return await step
        except TimeoutError:
            raise HttpError("timed out") from None
        except asyncio.IncompleteReadError as exc:
            if first and not exc.partial:
                raise NoAnswer from None
            raise HttpError("connection lost") from None  # e.g. it died mid-request
        except asyncio.LimitOverrunError:
            raise MalformedHttp(f"a header line longer than {MAX_HEAD} bytes") from None
        except (OSError, ssl.SSLError):
            if first:
                raise NoAnswer from None
            raise HttpError("connection lost") from None

    async def _send(self, connection: _Connection, request: Request) -> None:
        server, method, body = request.server, request.method, request.body
        host = f"[{server.host}]" if ":" in server.host else server.host
        lines = [
            f"{method} {request.target} HTTP/1.1",
            f"Host: {host}:{server.port}",
            f"User-Agent: {self._user_agent}",
            "Accept: application/json",
        ]
        lines += [f"{name}: {value}" for name, value in request.headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if len(body) < _READ_SIZE:
            connection.writer.write(head + body)  # one segment for a small request
        else:
            connection.writer.write(head)
            connection.writer.write(body)  # not copied into one more buffer
        await connection.writer.drain()

    async def _read_response(
        self, connection: _Connection, *, head_only: bool
    ) -> tuple[Response, bool]:
        """The answer, and whether the connection may carry another request."""
        reader = connection.reader
        first = True
        while True:
            head = await self._guard(reader.readuntil(b"\r\n\r\n"), first=first)
            first = False
            status, http10, headers = _parse_head(head)
            if status >= 200:
                break
            if status == 101:
                raise MalformedHttp("it switched protocols")
            # 1xx: an interim answer; the real one follows.
        keep = not http10 and "close" not in _tokens(headers.get("connection", ""))
        if head_only or status in (204, 304):  # no body, whatever the headers say
            return Response(status, headers, b""), keep
        if "transfer-encoding" in headers:
            codings = _tokens(headers["transfer-encoding"])
            if codings and codings[-1] == "chunked":
                # Read the chunked framing only: other codings were never asked for.
                if len(codings) > 1:
                    raise MalformedHttp(f"unasked-for transfer coding {codings[0]!r}")
                # With a Content-Length too, the message is suspect: not reused.
                body = await self._read_chunked(reader)
                return Response(status, headers, body), keep and "content-length" not in headers
            return Response(status, headers, await self._read_to_close(reader)), False
        if "content-length" in headers:
            length = _content_length(headers["content-length"])
            body = await self._guard(reader.readexactly(length)) if length else b""
            return Response(status, headers, body), keep
        return Response(status, headers, await self._read_to_close(reader)), False

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = await self._guard(reader.readuntil(b"\r\n"))
            size_text = line[:-2].split(b";", 1)[0].strip()
            if not size_text or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                raise MalformedHttp(f"a chunk size that is not hexadecimal: {_show(size_text)}")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise _too_large()
            chunk = await self._guard(reader.readexactly(size + 2))
            if chunk[-2:] != b"\r\n":
                raise MalformedHttp("a chunk longer than its size says")
            parts.append(chunk[:-2])
        while await self._guard(reader.readuntil(b"\r\n")) != b"\r\n":
            pass  # trailer fields: nothing this client needs
        return b"".join(parts)

    async def _read_to_close(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        total = 0
        while data := await self._guard(reader.read(_READ_SIZE)):
            total += len(data)
            if total > MAX_BODY:
                raise _too_large()
            parts.append(data)
        return b"".join(parts)


def _parse_head(head: bytes) -> tuple[int, bool, dict[str, str]]:
    """Status, whether it is HTTP/1.0, and the header fields of an answer's head."""
    lines = head[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise MalformedHttp(f"a status line that is not HTTP/1.x: {_show(lines[0])}")
    if len(code) != 3 or not code.isdigit() or rest[3:4] not in (b"", b" ") or code[0] in b"0":
        raise MalformedHttp(f"a status line without a status code: {_show(lines[0])}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or b" " in name or b"\t" in name:
            raise MalformedHttp(f"a header line that is not 'name: value': {_show(line)}")
        key = name.decode("latin-1").lower()
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return int(code), version == b"HTTP/1.0", headers


def _content_length(value: str) -> int:
    # Repeated identical values ("10, 10") are allowed; differing ones are not.
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not (text := values.pop()).isdigit() or not text.isascii():
        raise MalformedHttp(f"a Content-Length that is not a number: {value[:40]!r}")
    length = int(text)
    if length > MAX_BODY:
        raise _too_large()
    return length


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",") if token.strip()]


def _too_large() -> MalformedHttp:
    return MalformedHttp(f"a body larger than {MAX_BODY >> 20} MiB")


def _show(data: bytes) -> str:
    """Some bytes of what the server sent, quoted, for an error line."""
    return repr(data[:40].decode("latin-1"))
