"""The peer wire protocol as a state machine: which messages each side may send
in each state of a connection, and which messages move it on (BEP 3, BEP 6)."""

from __future__ import annotations

import enum
from typing import Final

from minitorrent.wire.messages import (
    AllowedFast,
    Bitfield,
    Cancel,
    Choke,
    Extended,
    Handshake,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    KeepAlive,
    Message,
    NotInterested,
    Piece,
    Port,
    Reject,
    Request,
    Suggest,
    Unchoke,
)

__all__ = ["ALLOWED", "ALLOWED_TO_RECEIVE", "FAST_TYPES", "TRANSITIONS", "State"]


class State(enum.Enum):
    AWAIT_HANDSHAKE = "awaiting the handshake"
    AWAIT_TORRENT = "awaiting set_torrent()"
    FIRST_MESSAGE = "before the first message"
    ACTIVE = "active"


FIRST_ONLY: Final = frozenset({Bitfield, HaveAll, HaveNone})
# May come before the bitfield without using up its slot: Transmission sends its
# BEP 10 extension handshake before the bitfield, aria2 its allowed_fast set, and
# keep-alives, suggestions and the DHT port say nothing about what the peer has.
SLOT_NEUTRAL: Final = frozenset({KeepAlive, Extended, AllowedFast, Suggest, Port})
ANY_MESSAGE: Final = frozenset(
    {KeepAlive, Choke, Unchoke, Interested, NotInterested, Have, Bitfield, Request, Piece}
    | {Cancel, Port, Suggest, HaveAll, HaveNone, Reject, AllowedFast, Extended}
)
FAST_TYPES: Final = frozenset({Suggest, HaveAll, HaveNone, Reject, AllowedFast})

ALLOWED: Final[dict[State, frozenset[type[Message]]]] = {
    State.AWAIT_HANDSHAKE: frozenset({Handshake}),
    State.AWAIT_TORRENT: frozenset(),  # frames wait in the buffer
    State.FIRST_MESSAGE: ANY_MESSAGE,
    State.ACTIVE: ANY_MESSAGE - FIRST_ONLY,
}
"""Message types allowed in each state (what we send, and what we receive but for
ALLOWED_TO_RECEIVE's one tolerance)."""

ALLOWED_TO_RECEIVE: Final[dict[State, frozenset[type[Message]]]] = {
    **ALLOWED,
    # aria2 sends a second, fuller bitfield mid-connection; refusing it would make us
    # unusable with aria2, so a late bitfield is accepted (the swarm adds its bits).
    State.ACTIVE: ALLOWED[State.ACTIVE] | {Bitfield},
}

TRANSITIONS: Final[dict[tuple[State, type[Message]], State]] = {
    (State.AWAIT_HANDSHAKE, Handshake): State.AWAIT_TORRENT,
    **{(State.FIRST_MESSAGE, cls): State.ACTIVE for cls in ANY_MESSAGE - SLOT_NEUTRAL},
}
"""State changes caused by a message; a pair not listed keeps the state.  set_torrent()
moves AWAIT_TORRENT to FIRST_MESSAGE."""
