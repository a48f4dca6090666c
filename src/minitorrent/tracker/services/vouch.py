"""Vouching: is this peer, at this address, a live member of this file's swarm?

A seeder asks before it serves a peer it has not heard of from us: knowing an
info-hash and a seeder's address must not be enough to download a group's file.

minitorrent peers show the peer id they announced. libtorrent (since 1.2) shows each
peer a fresh random peer id instead, so for peers announced with a passkey (that is,
BitTorrent clients) the address alone must do: a member's client announcing this
file from that IP. docs/security.md says what that leaves open (a shared NAT).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.models import Membership, Peer
from minitorrent.tracker.services.addresses import normalize_ip
from minitorrent.tracker.services.errors import Invalid
from minitorrent.tracker.services.swarm import require_member_file

_HEX40 = re.compile(r"[0-9a-f]{40}")


def in_swarm(
    db: Session, user_id: str, info_hash: str, peer_id: str, ip: str, *, now: datetime
) -> bool:
    """Whether `peer_id` announced `info_hash` from `ip` and is still live and a member
    (or, for passkey announces, any peer id from `ip`). Members of the file's group only
    may ask."""
    for name, value, code in (
        ("info_hash", info_hash, ErrorCode.BAD_INFO_HASH),
        ("peer_id", peer_id, ErrorCode.BAD_PEER_ID),
    ):
        if not _HEX40.fullmatch(value):
            raise Invalid(f"{name} must be 40 lowercase hex digits", code=code)
    shared = require_member_file(db, info_hash, user_id)
    # Leaving a group drops the member's peers; the membership join is a second lock.
    member = exists().where(
        Membership.group_id == shared.group_id, Membership.user_id == Peer.user_id
    )
    found = db.scalar(
        select(Peer.id)
        .where(
            Peer.file_id == shared.id,
            Peer.ip == normalize_ip(ip),
            or_(Peer.peer_id == peer_id, Peer.session_id.is_(None)),
            Peer.expires_at > now,
            member,
        )
        .limit(1)
    )
    return found is not None
