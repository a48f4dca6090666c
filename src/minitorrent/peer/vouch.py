"""Which peers the tracker vouches for: members in a file's swarm, from their address.

A seeder serves a peer only if the tracker listed it in an announce answer, or says
so when asked (``GET /swarms/{info_hash}/peers/{peer_id}?ip=``). Answers are cached
briefly: a yes for less than one announce interval, so that a member who leaves the
group loses access within one interval; a no for a few seconds, so that a peer that
retries at once does not cost a request each time.

A stranger must not make us flood the tracker: a no is also remembered for the
address and file (a new peer id from there is refused without asking), and each
address may cause only a few look-ups at once and a trickle over time (a yes gives
its look-up back: a member's new peer ids are not rationed, only misses). Peers the
tracker listed to us in an announce answer never need a look-up, so a member behind
the same address as a stranger still gets in (at worst after our next announce).
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
LOOKUP_BURST = 4  # tracker look-ups one address may cause in a burst...
LOOKUP_RATE = 0.5  # ...then this many per second
LOOKUPS_IN_FLIGHT = 2  # per address at once

Key = tuple[bytes, bytes, str]  # info-hash, peer id, IP address
Ask = Callable[[bytes, bytes, str], Awaitable[bool]]


def _key(info_hash: bytes, peer_id: bytes, ip: str) -> Key:
    return info_hash, peer_id, plain_address(ip)


def plain_address(ip: str) -> str:
    """IPv4-mapped IPv6 (a dual-stack socket's view) as plain IPv4, as the tracker has it."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


class _Budget:
    """One address's look-ups: a token bucket plus a count of those in flight."""

    __slots__ = ("at", "in_flight", "tokens")

    def __init__(self, now: float) -> None:
        self.tokens = float(LOOKUP_BURST)
        self.at = now
        self.in_flight = 0

    def take(self, now: float) -> bool:
        self.tokens = min(LOOKUP_BURST, self.tokens + (now - self.at) * LOOKUP_RATE)
        self.at = now
        if self.tokens < 1 or self.in_flight >= LOOKUPS_IN_FLIGHT:
            return False
        self.tokens -= 1
        self.in_flight += 1
        return True

    def idle(self, now: float) -> bool:
        """Full again and nothing in flight: as good as forgotten."""
        refilled = self.tokens + (now - self.at) * LOOKUP_RATE >= LOOKUP_BURST
        return not self.in_flight and refilled


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
        self._refused: dict[tuple[bytes, str], float] = {}  # (info-hash, address) -> until
        self._budgets: dict[str, _Budget] = {}  # per address
        self._pending: dict[Key, asyncio.Future[bool | None]] = {}

    def remember(self, info_hash: bytes, peer_id: bytes, ip: str) -> None:
        """The tracker listed this peer in an announce answer: a yes."""
        self._store(_key(info_hash, peer_id, ip), True)

    def vouched(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool:
        """A yes that has not expired (no request)."""
        return self._cached(_key(info_hash, peer_id, ip)) is True

    async def check(self, info_hash: bytes, peer_id: bytes, ip: str) -> bool | None:
        """The tracker's answer, cached; None when no tracker could answer, or when
        the peer's address has had its share of look-ups for now."""
        key = _key(info_hash, peer_id, ip)
        cached = self._cached(key)
        if cached is not None:
            return cached
        now = self._clock()
        if self._refused.get((info_hash, key[2]), now) > now:
            return False  # a stranger trying peer ids: refused for its address
        pending = self._pending.get(key)
        if pending is None:  # one request per key, however many handshakes wait on it
            budget = self._budget(key[2], now)
            if not budget.take(now):
                log.info("too many look-ups for peers at %s; refusing for now", key[2])
                return None
            pending = asyncio.ensure_future(self._fetch(key))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._done(key, budget, done))
        return await asyncio.shield(pending)

    def _budget(self, address: str, now: float) -> _Budget:
        budget = self._budgets.get(address)
        if budget is None:
            if len(self._budgets) >= MAX_ENTRIES:
                self._budgets = {a: b for a, b in self._budgets.items() if not b.idle(now)}
            budget = _Budget(now)
            if len(self._budgets) >= MAX_ENTRIES:  # a flood from as many addresses
                budget.tokens = 0.0  # wait for the known ones to go quiet
            else:
                self._budgets[address] = budget
        return budget

    def _done(self, key: Key, budget: _Budget, done: asyncio.Future[bool | None]) -> None:
        self._pending.pop(key, None)
        budget.in_flight -= 1
        # A member: only look-ups that find nobody use up the address's share.
        if not done.cancelled() and done.exception() is None and done.result():
            budget.tokens = min(LOOKUP_BURST, budget.tokens + 1)

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
        if not answer:
            self._refuse_address(key[0], key[2])
        return answer

    def _refuse_address(self, info_hash: bytes, address: str) -> None:
        now = self._clock()
        if len(self._refused) >= MAX_ENTRIES:
            self._refused = {k: t for k, t in self._refused.items() if t > now}
            while len(self._refused) >= MAX_ENTRIES:
                del self._refused[next(iter(self._refused))]
        self._refused.pop((info_hash, address), None)
        self._refused[(info_hash, address)] = now + self._ttl[False]

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
