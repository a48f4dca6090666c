"""Which peers the tracker vouches for: members in a file's swarm, from their address.

A seeder serves a peer only if the tracker listed it in an announce answer, or says
so when asked (``GET /swarms/{info_hash}/peers/{peer_id}?ip=``). Answers are cached
briefly: a yes for less than one announce interval, so that a member who leaves the
group loses access within one interval; a no for a few seconds, so that a peer that
retries at once does not cost a request each time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable

from minitorrent.errors import TrackerRefused, TrackerUnreachable

log = logging.getLogger(__name__)

POSITIVE_TTL = 30.0
NEGATIVE_TTL = 5.0
MAX_ENTRIES = 4096  # hostile peers inventing peer ids cannot grow the cache past this

Key = tuple[bytes, bytes, str]  # info-hash, peer id, IP address
Ask = Callable[[bytes, bytes, str], Awaitable[bool]]


def _key(info_hash: bytes, peer_id: bytes, ip: str) -> Key:
    """IPv4-mapped IPv6 (a dual-stack socket's view) as plain IPv4, as the tracker has it."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return info_hash, peer_id, ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return info_hash, peer_id, str(address)


class Vouchers:
    def __init__(
        self,
        ask: Ask,
        *,
        positive_ttl: float = POSITIVE_TTL,
        negative_ttl: float = NEGATIVE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ask = ask
        self._ttl = {True: positive_ttl, False: negative_ttl}
        self._clock = clock
        self._answers: dict[Key, tuple[bool, float]] = {}  # key -> (answer, expires at)
        self._pending: dict[Key, asyncio.Future[bool | None]] = {}

    def remember(self, info_hash: bytes, peer_id: bytes, ip: str) -> None:
        """The tracker listed this peer in an announce answer: a yes."""
        self._store(_key(info_hash, peer_id, ip), True)

    def vouched(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        """A yes that has not expired (no request)."""
        return self._cached(_key(info_hash, peer_id, ip)) is True

    async def check(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool | None:
        """The tracker's answer, cached; None when no tracker could answer."""
        key = _key(info_hash, peer_id, ip)
        cached = self._cached(key)
        if cached is not None:
            return cached
        pending = self._pending.get(key)
        if pending is None:  # one request per key, however many handshakes wait on it
            pending = asyncio.ensure_future(self._fetch(key))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    async def _fetch(self, key: Key) -> bool | None:
        try:
            answer = await self._ask(*key)
        except TrackerUnreachable as exc:
            log.info("cannot ask the tracker about peer %s: %s", key[1].hex(), exc)
            return None
        except TrackerRefused as exc:  # e.g. we left the group, or the file is gone
            log.info("tracker refused to vouch for peer %s: %s", key[1].hex(), exc)
            answer = False
        self._store(key, answer)
        return answer

    def _cached(self, key: Key) -> bool | None:
        entry = self._answers.get(key)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def _store(self, key: Key, answer: bool) -> None:
        now = self._clock()
        if len(self._answers) >= MAX_ENTRIES:
            self._answers = {k: v for k, v in self._answers.items() if v[1] > now}
            while len(self._answers) >= MAX_ENTRIES:  # still full: the oldest go first
                del self._answers[next(iter(self._answers))]
        self._answers.pop(key, None)  # re-inserted last: dict order is age order
        self._answers[key] = (answer, now + self._ttl[answer])
