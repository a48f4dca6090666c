"""The client's memory of its own login (the tracker keeps the other side)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from minitorrent.client.state import UserState
from minitorrent.peer.transfer import Transfer


@dataclass
class Session:
    user_id: str
    token: str
    passkey: str
    state: UserState
    downloads: dict[bytes, Transfer] = field(default_factory=dict)  # in start order
    keepalive: asyncio.Task[None] | None = None
    tracker: int | None = None  # index of the tracker that opened the session
    shared_database: bool = True  # whether other trackers can know the session
