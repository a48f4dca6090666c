"""One peer connection over asyncio: bytes in, protocol events out, to a swarm.

The connection owns the socket (an ``asyncio.BufferedProtocol``, so received
bytes land straight in the wire protocol's buffer) and the handshake. Once
the handshake names a torrent it hands every event to that torrent's swarm.
Anything the peer does wrong ends this connection only.

An incoming peer is served only if the tracker vouches for it (see peer/vouch.py):
until then we neither answer its handshake nor read further. A connection silent for
``idle_timeout`` is dropped; we send keep-alives so that well-behaved peers never are.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from minitorrent.errors import ProtocolError, StorageError
from minitorrent.peer.link import SwarmPort
from minitorrent.wire import messages as m
from minitorrent.wire.protocol import DEFAULT_BUFFER_SIZE, MIN_BUFFER_SIZE, PeerProtocol, RunEvent

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
# A peer that sends nothing, not even a keep-alive, for this long is gone (libtorrent's
# peer_timeout too); we send a keep-alive after half of it without sending anything.
IDLE_TIMEOUT = 120.0
# Keep at most this many bytes queued in the kernel/transport before we pause
# serving requests; the rest wait in the connection's request queue.
WRITE_HIGH_WATER = 4 * 1024 * 1024


class SwarmDirectory(Protocol):
    """Finds the swarm for an info-hash announced in an incoming handshake."""

    peer_id: bytes

    def swarm_for(self, info_hash: bytes) -> SwarmPort | None: ...

    def vouched(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        """The tracker vouched for this peer recently (no request needed)."""
        ...

    async def vouch(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        """Ask the tracker whether this peer is a member in the file's swarm."""
        ...


class PeerConnection(asyncio.BufferedProtocol):
    def __init__(
        self,
        directory: SwarmDirectory,
        *,
        swarm: SwarmPort | None = None,
        expected_peer_id: bytes | None = None,
        on_open: Callable[[PeerConnection], bool] | None = None,
        on_close: Callable[[PeerConnection], None] | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.directory = directory
        self.swarm: SwarmPort | None = swarm  # known up front for outgoing connections
        self.expected_peer_id = expected_peer_id
        # Incoming peers get a small receive buffer until admitted: a flood of
        # connections must not cost 4 MiB each (see _admit).
        self.protocol = PeerProtocol(
            buffer_size=DEFAULT_BUFFER_SIZE if swarm is not None else MIN_BUFFER_SIZE
        )
        self.transport: asyncio.Transport | None = None
        self.peer_id: bytes = b""
        self.address: tuple[str, int] = ("", 0)
        self.fast = False
        self.closed = False
        self.close_reason = ""
        self._on_open = on_open
        self._on_close = on_close
        self._writing_paused = False
        self._out: list[bytes | bytearray | memoryview] = []  # written by flush()
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._idle_timeout = idle_timeout
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_received = self._last_sent = 0.0
        self._vouching: asyncio.Task[None] | None = None

    # -- asyncio.BufferedProtocol -------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; same interface.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self.address = (str(peer[0]), int(peer[1]))
        if self._on_open is not None and not self._on_open(self):
            self._on_close = None  # never counted, so never uncounted
            self.drop("too many connections")
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        loop = asyncio.get_running_loop()
        # A short idle timeout (tests) shortens the wait for the handshake too.
        self._handshake_timer = loop.call_later(
            min(HANDSHAKE_TIMEOUT, self._idle_timeout), self.drop, "no handshake in time"
        )
        self._last_received = self._last_sent = loop.time()
        self._idle_timer = loop.call_later(self._idle_timeout / 2, self._check_idle)
        if self.swarm is not None:
            self._start_outgoing(self.swarm)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.protocol.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self._last_received = asyncio.get_running_loop().time()
        self._guarded(lambda: self._dispatch(self.protocol.buffer_updated_runs(nbytes)))

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run a step of handling the peer's input; whatever goes wrong ends this
        connection only."""
        try:
            step()
        except ProtocolError as exc:
            self.drop(f"protocol error: {exc}")
        except StorageError as exc:
            if self.swarm is not None:
                self.swarm.on_storage_error(exc)
            self.drop(str(exc))
        except Exception as exc:  # a bug of ours: end this connection, keep the process
            log.warning(
                "internal error with peer %s:%s: %r",
                *self.address,
                exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            self.drop(f"internal error: {exc!r}")

    def eof_received(self) -> bool:
        self.drop("peer closed the connection")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self._closed("connection lost" if exc is None else f"connection lost: {exc}")

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self.swarm is not None and not self.closed:
            self.swarm.on_writable(self)

    # -- sending ------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return not self._writing_paused and not self.closed

    def send(self, message: m.Message) -> None:
        self.write(self.protocol.send(message))

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue data; everything queued in one turn of the event loop leaves in one
        vectored write (each write to a loopback socket costs a system call and the
        receiver's wake-up, so per-message writes dominated the profile)."""
        if self.closed or self.transport is None:
            return
        if not self._out:
            loop = asyncio.get_running_loop()
            loop.call_soon(self.flush)
            self._last_sent = loop.time()
        self._out.append(data)

    def flush(self) -> None:
        if self._out and not self.closed and self.transport is not None:
            out, self._out = self._out, []
            self.transport.writelines(out)

    def drop(self, reason: str) -> None:
        if self.closed:
            return
        if self.transport is not None:
            self.transport.abort()
        self._closed(reason)

    # -- internals ------------------------------------------------------------------

    def _closed(self, reason: str) -> None:
        self.closed = True
        self.close_reason = reason
        for timer in (self._handshake_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        if self._vouching is not None:
            self._vouching.cancel()
        log.debug("peer %s:%s closed: %s", *self.address, reason)
        if self.swarm is not None:
            self.swarm.on_disconnect(self)
        if self._on_close is not None:
            self._on_close(self)

    def _send_handshake(self, swarm: SwarmPort) -> None:
        self.write(self.protocol.send(m.Handshake(swarm.info_hash, self.directory.peer_id)))

    def _start_outgoing(self, swarm: SwarmPort) -> None:
        info = swarm.info
        self.protocol.set_torrent(info.num_pieces, info.piece_length, info.length)
        self._send_handshake(swarm)

    def _dispatch(self, events: Sequence[RunEvent]) -> None:
        swarm = self.swarm
        for event in events:
            if self.closed:
                return
            if type(event) is m.Handshake:
                # Frames that came with the handshake wait for set_torrent.
                self._dispatch(self._on_handshake(event))
                swarm = self.swarm
                continue
            assert swarm is not None
            swarm.on_message(self, event)
        if self.swarm is not None and not self.closed and self.peer_id:
            self.swarm.after_messages(self)

    def _check_idle(self) -> None:
        """Drop a silent peer; keep a quiet but healthy connection alive."""
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self._last_received >= self._idle_timeout:
            self.drop(f"silent for {self._idle_timeout:g} s")
            return
        if now - self._last_sent >= self._idle_timeout / 2 and self.peer_id:
            self.send(m.KeepAlive())
        self._idle_timer = loop.call_later(self._idle_timeout / 4, self._check_idle)

    def _on_handshake(self, handshake: m.Handshake) -> list[m.Message]:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        if handshake.peer_id == self.directory.peer_id:
            raise ProtocolError("connected to ourselves")
        if self.swarm is not None:  # outgoing: the tracker gave us this peer
            if handshake.info_hash != self.swarm.info_hash:
                raise ProtocolError("handshake for another torrent")
            if self.expected_peer_id and handshake.peer_id != self.expected_peer_id:
                raise ProtocolError("peer id differs from the tracker's")
            return self._admit(self.swarm, handshake)
        swarm = self.directory.swarm_for(handshake.info_hash)
        if swarm is None:
            raise ProtocolError("handshake for a torrent we do not share")
        if self.directory.vouched(swarm.info_hash, handshake.peer_id, self.address[0]):
            return self._admit(swarm, handshake)
        # Unknown peer: ask the tracker before we say anything; its frames wait unread.
        if self.transport is not None:
            self.transport.pause_reading()
        self._vouching = asyncio.ensure_future(self._admit_if_vouched(swarm, handshake))
        return []

    async def _admit_if_vouched(self, swarm: SwarmPort, handshake: m.Handshake) -> None:
        vouched = await self.directory.vouch(swarm.info_hash, handshake.peer_id, self.address[0])
        self._vouching = None
        if self.closed:
            return
        if not vouched:
            self.drop("the tracker does not vouch for this peer in the file's swarm")
            return
        self._guarded(lambda: self._dispatch(self._admit(swarm, handshake)))
        if not self.closed and self.transport is not None:
            self.transport.resume_reading()

    def _admit(self, swarm: SwarmPort, handshake: m.Handshake) -> list[m.Message]:
        """Join the swarm; return the frames that waited for the torrent's geometry."""
        held: list[m.Message] = []
        if self.swarm is None:  # incoming: answer the handshake now
            self.swarm = swarm
            if not swarm.complete:  # it will send us pieces: make room for them
                self.protocol.grow_buffer(DEFAULT_BUFFER_SIZE)
            info = swarm.info
            held = self.protocol.set_torrent(info.num_pieces, info.piece_length, info.length)
            self._send_handshake(swarm)
        self.peer_id = handshake.peer_id
        self.fast = self.protocol.fast_enabled
        if not swarm.accept(self):
            raise ProtocolError("swarm refused the connection")
        return held
