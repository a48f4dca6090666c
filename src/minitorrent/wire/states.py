"""The peer wire protocol as a state machine: which messages each side may send
in each state of a connection, and which messages move it on (BEP 3, BEP 6)."""

from __future__ import annotations

import enum
from typing import Final

from minitorrent.wire import messages as m

__all__ = ["ALLOWED", "ALLOWED_TO_RECEIVE", "FAST_TYPES", "TRANSITIONS", "State"]


class State(enum.Enum):
    AWAIT_HANDSHAKE = "awaiting the handshake"
    AWAIT_TORRENT = "awaiting set_torrent()"
    FIRST_MESSAGE = "before the first message"
    ACTIVE = "active"


FIRST_ONLY: Final = frozenset({m.Bitfield, m.HaveAll, m.HaveNone})
# May come before the bitfield without using up its slot: Transmission sends its
# BEP 10 extension handshake before the bitfield, aria2 its allowed_fast set, and
# keep-alives, suggestions and the DHT port say nothing about what the peer has.
SLOT_NEUTRAL: Final = frozenset({m.KeepAlive, m.Extended, m.AllowedFast, m.Suggest, m.Port})
ANY_MESSAGE: Final = frozenset(
    {
        m.KeepAlive,
        m.Choke,
        m.Unchoke,
        m.Interested,
        m.NotInterested,
        m.Have,
        m.Bitfield,
        m.Request,
        m.Piece,
    }
    | {m.Cancel, m.Port, m.Suggest, m.HaveAll, m.HaveNone, m.Reject, m.AllowedFast, m.Extended}
)
FAST_TYPES: Final = frozenset({m.Suggest, m.HaveAll, m.HaveNone, m.Reject, m.AllowedFast})

ALLOWED: Final[dict[State, frozenset[type[m.Message]]]] = {
    State.AWAIT_HANDSHAKE: frozenset({m.Handshake}),
    State.AWAIT_TORRENT: frozenset(),  # frames wait in the buffer
    State.FIRST_MESSAGE: ANY_MESSAGE,
    State.ACTIVE: ANY_MESSAGE - FIRST_ONLY,
}
"""Message types allowed in each state (what we send, and what we receive but for
ALLOWED_TO_RECEIVE's one tolerance)."""

ALLOWED_TO_RECEIVE: Final[dict[State, frozenset[type[m.Message]]]] = {
    **ALLOWED,
    # aria2 sends a second, fuller bitfield mid-connection; refusing it would make us
    # unusable with aria2, so a late bitfield is accepted (the swarm adds its bits).
    State.ACTIVE: ALLOWED[State.ACTIVE] | {m.Bitfield},
}

TRANSITIONS: Final[dict[tuple[State, type[m.Message]], State]] = {
    (State.AWAIT_HANDSHAKE, m.Handshake): State.AWAIT_TORRENT,
    **{(State.FIRST_MESSAGE, cls): State.ACTIVE for cls in ANY_MESSAGE - SLOT_NEUTRAL},
}
"""State changes caused by a message; a pair not listed keeps the state.  set_torrent()
moves AWAIT_TORRENT to FIRST_MESSAGE."""
