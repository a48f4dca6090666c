"""Who runs which peer: one member may announce many peer ids.

Blame for bad data falls on members, not on peer ids: a member must not escape a ban,
or launder suspicion, through fresh peer ids. A peer's member is the user id a tracker
gave for it in an announce answer, when it listed that peer id at the address the peer
connects from; otherwise (not listed yet, or listed elsewhere) the best we know is its
address, which may be shared (NAT, one machine) but cannot be changed at will.
"""

from __future__ import annotations

from collections.abc import Mapping

from minitorrent.peer.tracker_client import PeerAddress
from minitorrent.peer.vouch import plain_address

__all__ = ["Members"]


class Members:
    """Reads what the trackers listed (the node's map, kept up to date by announces)."""

    def __init__(self, listed: Mapping[bytes, PeerAddress] | None = None) -> None:
        self._listed: Mapping[bytes, PeerAddress] = {} if listed is None else listed

    def of(self, peer_id: bytes, ip: str) -> str:
        """The member running ``peer_id`` seen at ``ip``: ``user <id>`` or ``address <ip>``."""
        peer = self._listed.get(peer_id)
        if peer is not None and peer.user_id and plain_address(peer.ip) == plain_address(ip):
            return f"user {peer.user_id}"
        return f"address {plain_address(ip)}"

    def peer_ids(self, member: str) -> set[bytes]:
        """Every peer id the trackers listed for ``member``."""
        return {
            peer_id
            for peer_id, peer in self._listed.items()
            if peer.user_id and f"user {peer.user_id}" == member
        }
