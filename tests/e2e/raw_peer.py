"""A raw BitTorrent peer for hostile-input tests: plain blocking sockets, any bytes.

It sends whatever it is told (valid or not) and parses what comes back with
minitorrent.wire, so a test can see exactly what the peer under test gave away.
"""

from __future__ import annotations

import select
import socket
import time

from minitorrent import wire
from minitorrent.errors import ProtocolError
from minitorrent.metainfo import InfoDict


class RawPeer:
    def __init__(
        self, port: int, info: InfoDict, peer_id: bytes, *, source: str = "127.0.0.1"
    ) -> None:
        self.info = info
        self.peer_id = peer_id
        self.sock = socket.create_connection(("127.0.0.1", port), 5, source_address=(source, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.proto = wire.PeerProtocol()
        self.proto.set_torrent(info.num_pieces, info.piece_length, info.length)
        self.received = 0  # bytes
        self.events: list[wire.Message] = []
        self.closed = False

    def send(self, *messages: wire.Message) -> None:
        self.send_raw(b"".join(wire.encode(m) for m in messages))

    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True  # the peer under test dropped us already

    def handshake(self) -> None:
        self.send(wire.Handshake(self.info.info_hash, self.peer_id))

    def pump(self, timeout: float) -> None:
        """Read (and parse) whatever arrives within `timeout` seconds, or until closed."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                return
            try:
                data = self.sock.recv(1 << 20)
            except OSError:  # reset: the peer aborted the connection
                data = b""
            if not data:
                self.closed = True
                return
            self.received += len(data)
            try:
                self.events += [
                    wire.Piece(e.index, e.begin, bytes(e.block)) if isinstance(e, wire.Piece) else e
                    for e in self.proto.receive_data(data)
                ]
            except ProtocolError as exc:
                raise AssertionError(f"the peer under test broke the protocol: {exc}") from None

    def wait_closed(self, timeout: float) -> bool:
        """Whether the other side closed the connection within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())
        return self.closed

    def wait_for(self, kind: type[wire.Message], timeout: float = 10.0) -> wire.Message:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if isinstance(event, kind):
                    return event
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"no {kind.__name__} (closed={self.closed}): {self.events}")
            self.pump(min(0.2, deadline - time.monotonic()))

    def pieces(self) -> list[wire.Piece]:
        return [e for e in self.events if isinstance(e, wire.Piece)]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawPeer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
