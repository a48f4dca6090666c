"""What a swarm and a peer connection know of each other, as small interfaces.

A connection hands a swarm the events of one peer; a swarm answers through the
connection. Each side is written against the other's interface here, so neither
module imports the other, and a swarm can be driven by links that are not
sockets (tests connect two swarms back to back in memory).
"""

from __future__ import annotations

from typing import Protocol

from minitorrent.errors import StorageError
from minitorrent.metainfo import InfoDict
from minitorrent.wire import messages as m
from minitorrent.wire.protocol import PeerProtocol, RunEvent


class PeerLink(Protocol):
    """One connected peer, as its swarm sees it: the sans-IO protocol holds the
    connection's state, the link moves its bytes."""

    peer_id: bytes
    address: tuple[str, int]
    fast: bool
    protocol: PeerProtocol

    def __hash__(self) -> int:  # a key of the swarm's and the picker's tables
        ...

    @property
    def writable(self) -> bool:
        """False while the peer is not reading what we sent (serve later)."""
        ...

    def send(self, message: m.Message) -> None: ...

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Bytes already encoded (and checked) by ``protocol``."""
        ...

    def flush(self) -> None:
        """Send what was written so far now, not at the end of this turn of the loop."""
        ...

    def drop(self, reason: str) -> None: ...


class SwarmPort(Protocol):
    """One torrent's swarm, as a connection sees it."""

    info_hash: bytes
    info: InfoDict

    @property
    def complete(self) -> bool: ...

    def accept(self, link: PeerLink) -> bool:
        """A handshake completed; False refuses the peer."""
        ...

    def on_message(self, link: PeerLink, msg: RunEvent) -> None: ...

    def after_messages(self, link: PeerLink) -> None:
        """Once per batch of received messages."""
        ...

    def on_writable(self, link: PeerLink) -> None: ...

    def on_disconnect(self, link: PeerLink) -> None: ...

    def on_storage_error(self, exc: StorageError) -> None: ...
