"""What a swarm keeps about each connected peer, shared by its downloader and uploader.

The connection's choke and interest flags are not here: the peer's sans-IO
protocol (``link.protocol``) owns them, as it sees every message both ways.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from minitorrent.peer import extensions
from minitorrent.peer.link import PeerLink
from minitorrent.wire import messages as m

RATE_WEIGHT = 0.3  # of the last tick in the smoothed rates


@dataclass
class PeerState:
    conn: PeerLink
    is_seed: bool = False
    bitfield_seen: bool = False
    outstanding: int = 0  # our requests it has not answered yet
    last_block_at: float = 0.0
    downloaded: int = 0  # bytes of verified-or-not blocks received from this peer
    uploaded: int = 0  # bytes of blocks sent to this peer
    rate_down: float = 0.0
    rate_up: float = 0.0
    samples: int = 0  # of the rates
    _down_mark: int = 0
    _up_mark: int = 0
    queued: deque[m.Request] = field(default_factory=deque)  # its requests, to serve
    ever_unchoked: bool = False  # by us
    choked_requests: int = 0  # requests received since our last choke
    extensions: extensions.ExtensionState = field(default_factory=extensions.ExtensionState)
    connected_at: float = 0.0

    def sample_rates(self) -> None:
        """Once a tick: bytes per tick, smoothed (the choker compares peers by it, the
        downloader sizes its requests by it). The first ticks are averaged rather than
        blended with a rate of 0, which would understate a new peer's rate for seconds."""
        self.samples += 1
        weight = max(RATE_WEIGHT, 1 / self.samples)
        self.rate_down += weight * (self.downloaded - self._down_mark - self.rate_down)
        self.rate_up += weight * (self.uploaded - self._up_mark - self.rate_up)
        self._down_mark, self._up_mark = self.downloaded, self.uploaded


@dataclass(frozen=True, slots=True)
class PeerTotals:
    """Bytes exchanged with one peer id during this transfer (all its connections)."""

    downloaded: int  # bytes of blocks received from it
    uploaded: int  # bytes of blocks sent to it
    connected: bool
    banned: bool
