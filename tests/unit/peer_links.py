"""Peers without sockets: a swarm's connections as in-memory links.

A ``MemoryLink`` is what a swarm sees of a connection (peer/link.py's PeerLink)
with a real sans-IO ``PeerProtocol`` inside; ``Pair`` joins two swarms back to
back and moves the bytes each writes to the other, the way two connections on a
socket pair would, so a whole transfer runs in one thread without a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from minitorrent import wire
from minitorrent.metainfo import InfoDict
from minitorrent.peer.swarm import Swarm
from minitorrent.wire.protocol import MIN_BUFFER_SIZE, PeerProtocol

FAST_ONLY = bytes([0, 0, 0, 0, 0, 0, 0, 0x04])  # BEP 6, no BEP 10
PLAIN = bytes(8)


def connected_protocol(
    info: InfoDict, *, fast: bool, ours: bytes = b"-US0001-000000000000", theirs: bytes
) -> PeerProtocol:
    """A protocol past both handshakes, as a swarm finds it when it accepts a peer."""
    reserved = FAST_ONLY if fast else PLAIN
    protocol = PeerProtocol(reserved, buffer_size=MIN_BUFFER_SIZE)
    protocol.set_torrent(info.num_pieces, info.piece_length, info.length)
    protocol.send(wire.Handshake(info.info_hash, ours, reserved))
    protocol.receive_data(wire.encode(wire.Handshake(info.info_hash, theirs, reserved)))
    return protocol


class MemoryLink:
    """One side of an in-memory connection: what it writes waits in ``outbox``."""

    def __init__(
        self, protocol: PeerProtocol, peer_id: bytes, address: tuple[str, int], fast: bool
    ) -> None:
        self.protocol = protocol
        self.peer_id = peer_id
        self.address = address
        self.fast = fast
        self.outbox: list[bytes] = []
        self.dropped = ""
        self.on_drop: Callable[[MemoryLink], None] | None = None

    @property
    def writable(self) -> bool:
        return not self.dropped

    def send(self, message: wire.Message) -> None:
        self.write(self.protocol.send(message))

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.dropped:
            self.outbox.append(bytes(data))

    def flush(self) -> None:
        """Writes reach the outbox at once: nothing waits to be flushed."""

    def drop(self, reason: str) -> None:
        if self.dropped:
            return
        self.dropped = reason
        if self.on_drop is not None:
            self.on_drop(self)


class Pair:
    """Two swarms joined by one in-memory connection."""

    def __init__(
        self,
        a: Swarm,
        b: Swarm,
        *,
        fast: bool = True,
        a_id: bytes = b"-AA0001-000000000000",
        b_id: bytes = b"-BB0001-000000000000",
        a_ip: str = "10.0.0.1",
        b_ip: str = "10.0.0.2",
        cuts: Iterator[int] | None = None,
    ) -> None:
        self.a, self.b = a, b
        self.cuts = cuts  # bytes per receive callback; by default all that fits
        info = a.info
        # link_a is A's view of B (its peer id is B's), and the other way round.
        self.link_a = MemoryLink(
            connected_protocol(info, fast=fast, ours=a_id, theirs=b_id), b_id, (b_ip, 6881), fast
        )
        self.link_b = MemoryLink(
            connected_protocol(info, fast=fast, ours=b_id, theirs=a_id), a_id, (a_ip, 6881), fast
        )
        self.link_a.on_drop = lambda _: self._close()
        self.link_b.on_drop = lambda _: self._close()
        self.accepted = a.accept(self.link_a) and b.accept(self.link_b)

    def _close(self) -> None:
        """Either side dropping ends the connection for both."""
        for swarm, link in ((self.a, self.link_a), (self.b, self.link_b)):
            link.dropped = link.dropped or "peer closed the connection"
            swarm.on_disconnect(link)

    @property
    def closed(self) -> bool:
        return bool(self.link_a.dropped)

    def step(self) -> bool:
        """Deliver what each side wrote so far; False if neither had anything."""
        moved = self._deliver(self.link_a, self.b, self.link_b)
        moved |= self._deliver(self.link_b, self.a, self.link_a)
        return moved

    def _deliver(self, sender: MemoryLink, swarm: Swarm, receiver: MemoryLink) -> bool:
        """Move the sender's bytes into the receiver's buffer as receive callbacks: cut at
        ``cuts`` (each callback then ends with ``after_messages``, as on a socket), or by
        default as much as the buffer takes each time, with one ``after_messages`` at the
        end (what a peer wrote in one turn is handled as one batch)."""
        if not sender.outbox or receiver.dropped:
            return False
        data, sender.outbox[:] = memoryview(b"".join(sender.outbox)), []
        protocol = receiver.protocol
        while data and not receiver.dropped:
            free = protocol.get_buffer()
            n = min(len(free), len(data), next(self.cuts) if self.cuts else len(data))
            free[:n], data = data[:n], data[n:]
            for event in protocol.buffer_updated_runs(n):
                if receiver.dropped:
                    break
                swarm.on_message(receiver, event)
            swarm.flush_writes()  # the blocks are views: written before the next chunk
            if self.cuts and not receiver.dropped:
                swarm.after_messages(receiver)
        if not self.cuts and not receiver.dropped:
            swarm.after_messages(receiver)
        return True


def pump(*pairs: Pair, max_rounds: int = 100_000) -> int:
    """Step every open pair in turn until all are quiet; the rounds it took."""
    for rounds in range(max_rounds):
        if not any([pair.step() for pair in pairs if not pair.closed]):
            return rounds
    raise AssertionError(f"still talking after {max_rounds} rounds")


def step(*pairs: Pair, rounds: int) -> None:
    """Step every open pair ``rounds`` times, quiet or not."""
    for _ in range(rounds):
        for pair in pairs:
            if not pair.closed:
                pair.step()
