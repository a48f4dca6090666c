"""A stranger cannot make a seeder flood the tracker with vouch look-ups: handshakes with
ever new peer ids from one address cost a few look-ups, and members are still served."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent import wire
from minitorrent.driver import Client, free_port, password_of
from minitorrent.peer.vouch import NEGATIVE_TTL

from .raw_peer import RawPeer
from .sharing_helpers import KiB, PortForward, member, quote, tracker_port, write_random

LOOKUP = b"GET /api/v1/swarms/"  # the seeder asking whether a peer is in the swarm
FLOOD = 300


def _handshake_and_wait(port: int, info_hash: bytes, source: str) -> None:
    """One stranger's attempt: a handshake with a fresh peer id, until we are dropped."""
    with socket.create_connection(("127.0.0.1", port), 5, source_address=(source, 0)) as sock:
        peer_id = b"-ST0001-" + secrets.token_bytes(12)
        sock.sendall(wire.encode(wire.Handshake(info_hash, peer_id)))
        sock.settimeout(10)
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass  # reset: dropped


def test_a_handshake_flood_with_random_peer_ids_costs_a_few_lookups(
    make_client: Callable[..., Client], tracker_info: Path, tmp_path: Path
) -> None:
    # ann reaches the tracker through a forward that counts her look-ups.
    proxy_info = tmp_path / "proxy_info.txt"
    port = free_port()
    forward = PortForward(port, tracker_port(tracker_info), watch=LOOKUP)
    proxy_info.write_text(f"127.0.0.1\n{port}\n")
    try:
        ann = make_client(state="ann", info=proxy_info)
        ann.ok(f"create_user ann {password_of('ann')}")
        ann.ok(f"login ann {password_of('ann')}")
        ann.ok("create_group lab")
        path = tmp_path / "ann" / "data.bin"
        data = write_random(path, 300 * KiB, seed=5)
        ann.ok(f"upload_file {quote(path)} lab")
        mal = member(tracker_info, ann, "mal")
        info = mal.file_info("lab", "data.bin")

        before, started = forward.watched, time.monotonic()
        for _ in range(FLOOD):
            _handshake_and_wait(ann.port, info.info_hash, "127.0.0.5")
        flood_lookups = forward.watched - before
        # One look-up, then one more each time the refusal of the address expires.
        allowed = 2 + (time.monotonic() - started) / NEGATIVE_TTL
        assert 1 <= flood_lookups <= allowed, f"{flood_lookups} look-ups for {FLOOD} handshakes"

        # A member at another address, whose peer id ann has not heard of yet, is served.
        peer_id = b"-XX0001-" + secrets.token_bytes(12)
        mal.announce(info, peer_id, 6881, "started")
        with RawPeer(ann.port, info, peer_id) as peer:
            peer.handshake()
            peer.send(wire.Interested())
            peer.wait_for(wire.Unchoke)
            peer.send(wire.Request(0, 0, 16 * KiB))
            assert peer.wait_for(wire.Piece).block == data[: 16 * KiB]
        mal.close()
    finally:
        forward.close()


# Loopback addresses other than 127.0.0.1 exist on Linux, not everywhere.
if os.uname().sysname != "Linux":
    test_a_handshake_flood_with_random_peer_ids_costs_a_few_lookups = pytest.mark.skip(
        reason="needs the whole 127.0.0.0/8 on loopback"
    )(test_a_handshake_flood_with_random_peer_ids_costs_a_few_lookups)
