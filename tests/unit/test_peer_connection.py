"""A peer connection's receive path: how much it takes from the socket per callback, and
that what a batch of messages makes us send leaves before the next batch is read."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minitorrent import wire
from minitorrent.metainfo import InfoDict, build_info
from minitorrent.peer.connection import READ_CHUNK, PeerConnection
from minitorrent.wire.protocol import DEFAULT_BUFFER_SIZE

OURS = b"-US0001-000000000000"
THEIRS = b"-TH0001-000000000000"


class FakeTransport:
    """Records what the connection writes; no socket."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def writelines(self, data: list[bytes | bytearray | memoryview]) -> None:
        self.written.append(b"".join(bytes(d) for d in data))

    def abort(self) -> None:
        self.aborted = True


@dataclass
class FakeSwarm:
    """A swarm that answers each batch of messages with one write of its own."""

    info: InfoDict
    received: list[wire.Message] = field(default_factory=list)
    complete: bool = False

    @property
    def info_hash(self) -> bytes:
        return self.info.info_hash

    def accept(self, link: Any) -> bool:
        return True

    def on_message(self, link: Any, msg: wire.Message) -> None:
        self.received.append(msg)

    def after_messages(self, link: Any) -> None:
        link.write(b"answer to %d messages" % len(self.received))

    def on_writable(self, link: Any) -> None:
        pass

    def on_disconnect(self, link: Any) -> None:
        pass

    def on_storage_error(self, exc: Exception) -> None:
        pass


class Directory:
    peer_id = OURS


def _connected(tmp_path: Path) -> tuple[PeerConnection, FakeTransport, FakeSwarm]:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(4 * 256 * 1024))
    swarm = FakeSwarm(build_info(path, "f.bin", "g"))
    conn = PeerConnection(Directory(), swarm=swarm)  # type: ignore[arg-type]
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport, swarm


def _receive(conn: PeerConnection, data: bytes) -> None:
    while data:
        buf = conn.get_buffer(-1)
        n = min(len(buf), len(data))
        buf[:n] = data[:n]
        data = data[n:]
        conn.buffer_updated(n)


def test_a_callback_takes_at_most_a_read_chunk(tmp_path: Path) -> None:
    async def run() -> None:
        conn, _, _ = _connected(tmp_path)
        assert READ_CHUNK < DEFAULT_BUFFER_SIZE
        assert len(conn.get_buffer(-1)) == READ_CHUNK
        conn.drop("done")

    asyncio.run(run())


def test_what_a_batch_makes_us_send_leaves_before_the_next_read(tmp_path: Path) -> None:
    async def run() -> None:
        conn, transport, swarm = _connected(tmp_path)
        handshake = wire.Handshake(swarm.info_hash, THEIRS)
        _receive(conn, wire.encode(handshake) + wire.encode(wire.HaveAll()))
        # No turn of the event loop yet: the answer was written by the callback itself.
        assert transport.written[-1].endswith(b"answer to 1 messages")
        _receive(conn, wire.encode(wire.Unchoke()) + wire.encode(wire.Have(1)))
        assert transport.written[-1] == b"answer to 3 messages"
        assert not transport.aborted
        conn.drop("done")

    asyncio.run(run())
