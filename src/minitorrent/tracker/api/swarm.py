"""The JSON announce used by minitorrent clients: an adapter onto the announce registry
(services/announce.py), as /announce/<passkey> is for BitTorrent clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from minitorrent.tracker.api.deps import Caller, Context, client_ip
from minitorrent.tracker.services import addresses, swarm
from minitorrent.tracker.services.errors import DomainError

router = APIRouter(prefix="/announce", tags=["swarm"])
MAX_BATCH = 1000
# A batch's whole JSON body: an item is ~250 bytes (body_limit.py).
MAX_BATCH_BODY = MAX_BATCH * 512


class AnnounceIn(BaseModel):
    info_hash: str = Field(description="hex, 40 digits")
    peer_id: str = Field(description="hex, 40 digits")
    ip: str
    port: int
    uploaded: int = 0
    downloaded: int = 0
    left: int
    event: str = Field("", description='"started", "completed", "stopped" or ""')
    interval: int | None = Field(None, description="the client's re-announce period, 1-3600 s")
    numwant: int | None = None

    def to_announce(self, source: str | None) -> swarm.Announce:
        """`source`: the address the request came from (see services/addresses.py)."""
        fields = self.model_dump()
        fields["info_hash"] = self.info_hash.lower()
        fields["peer_id"] = self.peer_id.lower()
        fields["ip"] = addresses.peer_address(self.ip, source)
        return swarm.Announce(**fields)


class PeerOut(BaseModel):
    peer_id: str
    ip: str
    port: int
    seed: bool
    user_id: str  # a member of the group, as list_members shows


class AnnounceOut(BaseModel):
    interval: int
    peers: list[PeerOut]
    seeders: int
    leechers: int


class BatchIn(BaseModel):
    items: Annotated[list[AnnounceIn], Field(max_length=MAX_BATCH)]


class BatchItemOut(BaseModel):
    info_hash: str
    result: AnnounceOut | None = None
    error: str | None = None
    message: str | None = None


class BatchOut(BaseModel):
    results: list[BatchItemOut]


def announce_out(result: swarm.AnnounceResult) -> AnnounceOut:
    return AnnounceOut(
        interval=result.interval,
        peers=[
            PeerOut(peer_id=p.peer_id, ip=p.ip, port=p.port, seed=p.seed, user_id=p.user_id)
            for p in result.peers
        ],
        seeders=result.counts.complete,
        leechers=result.counts.incomplete,
    )


async def _announce(
    body: AnnounceIn, source: str | None, caller: Caller, context: Context
) -> AnnounceOut:
    ann = body.to_announce(source)
    result = await context.announces.announce(caller.user_id, ann, caller.session_id)
    return announce_out(result)


@router.post("")
async def announce(
    body: AnnounceIn, request: Request, caller: Caller, context: Context
) -> AnnounceOut:
    return await _announce(body, client_ip(request), caller, context)


@router.post("/batch")
async def announce_batch(
    body: BatchIn, request: Request, caller: Caller, context: Context
) -> BatchOut:
    """Many announces in one round trip; each item succeeds or fails on its own."""
    results = []
    source = client_ip(request)
    for item in body.items:
        try:
            out = await _announce(item, source, caller, context)  # a failed item leaves no trace
        except DomainError as exc:
            results.append(
                BatchItemOut(info_hash=item.info_hash, error=exc.code, message=exc.message)
            )
        else:
            results.append(BatchItemOut(info_hash=item.info_hash, result=out))
    return BatchOut(results=results)
