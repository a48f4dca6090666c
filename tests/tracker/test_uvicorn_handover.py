"""The hand-over adapter (tracker/uvicorn_handover.py) against the installed uvicorn: a
connection whose first bytes another protocol read is served by uvicorn's protocol as if
it had had it from the start, and uvicorn's shutdown bookkeeping follows it."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from minitorrent.tracker.settings import TrackerSettings
from minitorrent.tracker.uvicorn_handover import UvicornSide


async def echo_path(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    body = f"{scope['method']} {scope['path']}".encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class FirstChunkReader(asyncio.Protocol):
    """Reads the first chunk itself, then hands the connection over with it."""

    def __init__(self, side: UvicornSide, opened: list[FirstChunkReader]) -> None:
        self.side, self.inner = side, None
        self.transport: asyncio.Transport | None = None
        opened.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.side.register(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None and self.inner is None  # later data is uvicorn's
        self.inner = self.side.hand_over(self, self.transport, data, TrackerSettings())

    def shutdown(self) -> None:
        raise AssertionError("handed over: uvicorn's protocol shuts the connection down")


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head.split(b"\r\n")[0], await reader.readexactly(length)


async def until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def serve_handed_over_connection() -> None:
    config = Config(app=echo_path, timeout_keep_alive=5, log_level="warning")
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    opened: list[FirstChunkReader] = []
    server = await loop.create_server(
        lambda: FirstChunkReader(UvicornSide(config, state, {}, loop), opened), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /first HTTP/1.1\r\nHo")  # half a head: the first protocol's bytes
    await writer.drain()
    await until(lambda: bool(opened) and opened[0].inner is not None)
    assert state.connections == {opened[0].inner}  # uvicorn's shutdown now sees its own
    writer.write(b"st: t\r\n\r\nPOST /second HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    assert await read_answer(reader) == (b"HTTP/1.1 200 OK", b"GET /first")
    assert await read_answer(reader) == (b"HTTP/1.1 200 OK", b"POST /second")
    writer.close()
    await until(lambda: not state.connections)
    server.close()
    await server.wait_closed()


def test_uvicorns_protocol_serves_the_bytes_already_read_and_what_follows() -> None:
    asyncio.run(serve_handed_over_connection())
