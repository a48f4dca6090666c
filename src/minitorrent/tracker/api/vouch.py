"""GET /swarms/{info_hash}/peers/{peer_id}?ip=...: may a seeder serve this peer?"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from minitorrent.tracker.api.deps import DB, Caller, Context, db_endpoint
from minitorrent.tracker.services import vouch

router = APIRouter(prefix="/swarms", tags=["swarm"])


class VouchOut(BaseModel):
    info_hash: str
    peer_id: str
    ip: str
    in_swarm: bool  # a live peer of a current member, announced from that ip


@router.get("/{info_hash}/peers/{peer_id}")
@db_endpoint
def swarm_peer(
    info_hash: str, peer_id: str, ip: str, caller: Caller, context: Context, db: DB
) -> VouchOut:
    """Members only: whether the peer is in the file's swarm right now."""
    info_hash, peer_id = info_hash.lower(), peer_id.lower()
    found = vouch.in_swarm(db, caller.user_id, info_hash, peer_id, ip, now=context.clock())
    return VouchOut(info_hash=info_hash, peer_id=peer_id, ip=ip, in_swarm=found)
