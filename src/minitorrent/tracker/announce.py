"""BitTorrent HTTP announce (BEP 3, compact peers BEP 23/7) and scrape, with a passkey.

Every answer is bencoded with HTTP 200, failures included ({"failure reason": ...}):
that is what BitTorrent clients understand. The query string is parsed from raw
bytes, since info_hash and peer_id are binary.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Request, Response
from fastbencode import bencode  # type: ignore[attr-defined]  # not re-exported in its stub
from sqlalchemy.exc import SQLAlchemyError

from minitorrent.tracker.api.deps import Context, client_ip
from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.services import addresses, swarm
from minitorrent.tracker.services.errors import DomainError

log = logging.getLogger(__name__)
router = APIRouter(tags=["bittorrent"])

Params = dict[str, list[bytes]]
Fields = dict[bytes, bytes]  # an announce's parameters we read, unescaped, each once
_MAX_DIGITS = 19
# BEP 21 "paused" and BEP 3 "empty" mean a regular announce.
_EVENTS: dict[bytes, swarm.Event] = {
    b"": "",
    b"empty": "",
    b"paused": "",
    b"started": "started",
    b"completed": "completed",
    b"stopped": "stopped",
}
# Announce parameters we read; each may appear once. Others (key, corrupt, ...) are ignored.
_ANNOUNCE_PARAMS = frozenset(
    [
        "info_hash",
        "peer_id",
        "port",
        "uploaded",
        "downloaded",
        "left",
        "compact",
        "event",
        "numwant",
        "ip",
    ]
)


class Failure(Exception):
    """A request we answer with a bencoded failure reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _bencode(value: dict[bytes, object]) -> bytes:
    encoded: bytes = bencode(value)
    return encoded


# Longest value remembered: an info-hash or a peer id with every byte escaped is 60.
_REMEMBERED = 64
# `b"%" in value` first tries the operand as an int and builds a TypeError it discards:
# 10 % of an announce's instructions (CPython 3.11). An int operand is a plain byte search.
_PERCENT = ord("%")


def _unquote(value: bytes) -> bytes:
    # unquote_to_bytes is pure Python: 11 % of an announce with an escaped info-hash. Most
    # values need none; escaped ones are info-hashes and peer ids, which come back with
    # every re-announce of a swarm's peers.
    if _PERCENT not in value:
        return value
    return _unquote_short(value) if len(value) <= _REMEMBERED else unquote_to_bytes(value)


@functools.lru_cache(maxsize=16384)
def _unquote_short(value: bytes) -> bytes:
    return unquote_to_bytes(value)


def parse_query(raw: bytes, *, once: frozenset[str] = frozenset()) -> Params:
    """Split a raw query string; keys in `once` must not repeat."""
    params: Params = {}
    for part in raw.split(b"&"):
        if not part:
            continue
        key, _, value = part.partition(b"=")
        try:
            name = _unquote(key).decode("ascii")
        except UnicodeDecodeError:
            raise Failure("malformed query string") from None
        params.setdefault(name, []).append(_unquote(value))
    for name in once & params.keys():
        if len(params[name]) > 1:
            raise Failure(f"parameter {name} given more than once")
    return params


def announce_fields(raw: bytes) -> Fields:
    """The announce's parameters (Failure as parse_query gives it)."""
    fields = _plain_fields(raw)
    if fields is not None:
        return fields
    params = parse_query(raw, once=_ANNOUNCE_PARAMS)
    return {name.encode(): params[name][0] for name in _ANNOUNCE_PARAMS & params.keys()}


def _plain_fields(raw: bytes) -> Fields | None:
    """What parse_query would give, in one pass, for a query of `name=value` parts with
    plain ASCII names, each named once (every client's announce); None for anything
    else. The general split was 15 % of an announce; a regex pass (its per-byte
    matching) still 6 % of the instructions, the byte splits here a third of that."""
    parts = raw.split(b"&")
    try:
        fields = dict([part.split(b"=", 1) for part in parts])
    except ValueError:  # a part without `=` (or empty): not a pair
        return None
    names = b"".join(fields)
    if len(fields) != len(parts) or _PERCENT in names or not names.isascii():
        return None  # a name repeats, is escaped, or is not ASCII: parse_query's case
    for name, value in fields.items():
        if _PERCENT in value:
            fields[name] = _unquote(value)
    return fields


def _hash20(value: bytes | None, name: str) -> str:
    if value is None:
        raise Failure(f"missing parameter {name}")
    if len(value) != 20:
        raise Failure(f"{name} must be 20 bytes")
    return value.hex()


def _number(fields: Fields, name: bytes) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    # bytes.isdigit: ASCII digits only, not empty (int() alone takes " 1" and "1_0").
    number = int(value) if value.isdigit() and len(value) <= _MAX_DIGITS else -1
    if not 0 <= number <= swarm.MAX_COUNTER:
        raise Failure(f"invalid {name.decode()}")
    return number


def _required_number(fields: Fields, name: bytes) -> int:
    value = _number(fields, name)
    if value is None:
        raise Failure(f"missing parameter {name.decode()}")
    return value


def _peer_ip(fields: Fields, client_host: str | None) -> str:
    """The address to list the peer under (services/addresses.py). BEP 3 lets `ip` be a
    DNS name, which we do not resolve: then it is as if there were none."""
    claimed = fields.get(b"ip", b"").decode("ascii", "replace")
    literal = claimed if claimed and addresses.is_literal(claimed) else None
    return addresses.peer_address(literal, client_host)


def _parse_announce(fields: Fields, client_host: str | None) -> swarm.Announce:
    event = _EVENTS.get(fields.get(b"event", b""))
    if event is None:
        raise Failure("invalid event")
    return swarm.Announce(
        info_hash=_hash20(fields.get(b"info_hash"), "info_hash"),
        peer_id=_hash20(fields.get(b"peer_id"), "peer_id"),
        ip=_peer_ip(fields, client_host),
        port=_required_number(fields, b"port"),
        uploaded=_number(fields, b"uploaded") or 0,
        downloaded=_number(fields, b"downloaded") or 0,
        left=_required_number(fields, b"left"),
        event=event,
        numwant=_number(fields, b"numwant"),
    )


@functools.lru_cache(maxsize=65536)  # a peer's address and port repeat in every answer
def _packed(ip: str, port: int) -> bytes:
    return ipaddress.ip_address(ip).packed + port.to_bytes(2, "big")


def _compact_peers(peers: list[swarm.PeerView]) -> tuple[bytes, bytes]:
    """BEP 23 `peers` and BEP 7 `peers6`: packed addresses and ports."""
    packed = [_packed(peer.ip, peer.port) for peer in peers]
    joined = b"".join(packed)
    if len(joined) == 6 * len(packed):  # no IPv6 peer (18 bytes each): the usual case
        return joined, b""
    compact4 = b"".join(p for p in packed if len(p) == 6)
    return compact4, b"".join(p for p in packed if len(p) != 6)


def _peer_dicts(peers: list[swarm.PeerView]) -> list[dict[bytes, object]]:
    """The original BEP 3 list, for clients that ask for compact=0."""
    return [
        {b"peer id": bytes.fromhex(peer.peer_id), b"ip": peer.ip.encode(), b"port": peer.port}
        for peer in peers
    ]


async def _announce(
    context: TrackerContext, passkey: str, query: bytes, client: str | None
) -> bytes:
    fields = announce_fields(query)
    user_id = await context.user_for_passkey(passkey)
    if user_id is None:
        raise Failure("unknown passkey")
    result = await context.announces.announce(user_id, _parse_announce(fields, client), None)
    return _render_announce(context, fields, result)


def announce_now(
    context: TrackerContext, passkey: str, query: bytes, client: str | None
) -> bytes | None:
    """The answer without waiting, when memory holds all it needs (nearly every
    re-announce); else None, and `answer(HANDLERS["/announce/"], ...)` gives it."""
    try:
        fields = announce_fields(query)
        user_id = context.cached_user_for_passkey(passkey)
        if user_id is None:
            return None
        ann = _parse_announce(fields, client)
        result = context.announces.from_memory(user_id, ann, None)
    except (Failure, DomainError):
        return None  # the full path gives the same refusal, in its order of checks
    return None if result is None else _render_announce(context, fields, result)


def _render_announce(
    context: TrackerContext, fields: Fields, result: swarm.AnnounceResult
) -> bytes:
    min_interval = min(context.settings.announce_min_interval, result.interval)
    counts = result.counts
    if fields.get(b"compact") != b"0":
        peers, peers6 = _compact_peers(result.peers)
        return _compact_answer(
            result.interval, min_interval, counts.complete, counts.incomplete, peers, peers6
        )
    answer: dict[bytes, object] = {
        b"interval": result.interval,
        b"min interval": min_interval,
        b"complete": counts.complete,
        b"incomplete": counts.incomplete,
        b"peers": _peer_dicts(result.peers),
    }
    return _bencode(answer)


def _compact_answer(
    interval: int, min_interval: int, complete: int, incomplete: int, peers: bytes, peers6: bytes
) -> bytes:
    """What bencode gives for the compact answer's dict (keys in sorted order), written
    out: bencode's generic walk of the dict was 8 % of an announce."""
    head = b"d8:completei%de10:incompletei%de8:intervali%de12:min intervali%de5:peers%d:" % (
        complete,
        incomplete,
        interval,
        min_interval,
        len(peers),
    )
    tail = b"6:peers6%d:%se" % (len(peers6), peers6) if peers6 else b"e"
    return head + peers + tail


async def _scrape(context: TrackerContext, passkey: str, query: bytes, client: str | None) -> bytes:
    params = parse_query(query)  # info_hash repeats (BEP 48)
    wanted = [_hash20(v, "info_hash") for v in params.get("info_hash", [])]
    user_id = await context.user_for_passkey(passkey)
    if user_id is None:
        raise Failure("unknown passkey")
    found = await context.work.run(_scrape_in_db, context, user_id, wanted or None)
    files = {
        bytes.fromhex(info_hash): {
            b"complete": c.complete,
            b"incomplete": c.incomplete,
            b"downloaded": c.downloaded,
        }
        for info_hash, c in found.items()
    }
    return _bencode({b"files": files})


def _scrape_in_db(
    context: TrackerContext, user_id: str, wanted: list[str] | None
) -> dict[str, swarm.Counts]:
    with context.work.transaction() as db:
        return swarm.scrape(db, user_id, wanted, now=context.clock())


Handler = Callable[[TrackerContext, str, bytes, str | None], Awaitable[bytes]]


async def answer(
    handler: Handler, context: TrackerContext, passkey: str, query: bytes, client: str | None
) -> bytes:
    """The bencoded answer; every failure is one too."""
    try:
        return await handler(context, passkey, query, client)
    except Failure as exc:
        reason = exc.reason
    except DomainError as exc:
        reason = exc.message
    except SQLAlchemyError:
        log.exception("database error in a BitTorrent request")
        reason = "tracker database unavailable; try again later"
    return failure(reason)


def failure(reason: str) -> bytes:
    return _bencode({b"failure reason": reason.encode()})


def _route(handler: Handler) -> Callable[[str, Request, TrackerContext], Awaitable[Response]]:
    async def endpoint(passkey: str, request: Request, context: Context) -> Response:
        query = request.scope["query_string"]
        body = await answer(handler, context, passkey, query, client_ip(request))
        return Response(body, media_type="text/plain")

    return endpoint


# A running tracker answers BitTorrent connections in its own HTTP protocol
# (tracker/http_fast.py) with the same `answer`; these routes serve what it hands to
# uvicorn (and the tests' ASGI client) and put the endpoints in the OpenAPI document.
router.add_api_route("/announce/{passkey}", _route(_announce), methods=["GET"], name="announce")
router.add_api_route("/scrape/{passkey}", _route(_scrape), methods=["GET"], name="scrape")

HANDLERS: dict[str, Handler] = {"/announce/": _announce, "/scrape/": _scrape}
