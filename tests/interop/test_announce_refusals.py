"""The private announce URL refuses everyone but current members, with a reason."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx
import pytest
from fastbencode import bdecode, bencode  # type: ignore[attr-defined]

from minitorrent.driver import Client, Tracker

pytestmark = pytest.mark.interop


def announce(url: str, info_hash: bytes) -> dict[bytes, object]:
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(b'-LT2110-abcdefghijkl')}"
        "&port=6881&uploaded=0&downloaded=0&left=0&compact=1&event=started"
    )
    response = httpx.get(f"{url}?{query}", timeout=10)
    assert response.status_code == 200
    decoded = bdecode(response.content)
    assert isinstance(decoded, dict)
    return decoded


def exported(client: Client, tmp_path: Path, name: str) -> tuple[str, bytes]:
    """(announce URL, info-hash) of a freshly exported .torrent."""
    out = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.torrent"
    client.ok(f"export_torrent lab {name} {out}")
    meta = bdecode(out.read_bytes())
    return meta[b"announce"].decode(), hashlib.sha1(bencode(meta[b"info"])).digest()


def test_announce_refusals(
    group: Callable[[int], list[Client]],
    random_file: Callable[[str, int], Path],
    tracker: Tracker,
    tmp_path: Path,
    tracker_info: Path,
) -> None:
    alice, bob = group(2)
    data = random_file("shared.bin", 300_000)
    alice.ok(f"upload_file {data} lab")
    url, info_hash = exported(alice, tmp_path, "shared.bin")
    base = url.rsplit("/", 1)[0]

    # A member's passkey works, and the peer list names alice's client.
    ok = announce(url, info_hash)
    assert b"failure reason" not in ok and len(ok[b"peers"]) >= 6  # type: ignore[arg-type]

    unknown = announce(f"{base}/{'0' * 32}", info_hash)
    assert b"passkey" in unknown[b"failure reason"] and b"peers" not in unknown  # type: ignore[operator]

    # A user who is not a member of the torrent's group.
    host = tracker_info.read_text().split()
    api = f"http://{host[0]}:{host[1]}/api/v1"
    httpx.post(f"{api}/users", json={"user_id": "mallory", "password": "pw"}, timeout=10)
    login = httpx.post(f"{api}/sessions", json={"user_id": "mallory", "password": "pw"}, timeout=10)
    stranger = announce(f"{base}/{login.json()['passkey']}", info_hash)
    # Answered as an unknown torrent: nothing says the info-hash is shared, nor where.
    assert stranger == {b"failure reason": b"unknown torrent"}

    # A rotated passkey stops working at once; the new one works.
    old_url, _ = exported(bob, tmp_path, "shared.bin")
    bob.ok("rotate_passkey")
    rotated = announce(old_url, info_hash)
    assert b"passkey" in rotated[b"failure reason"] and b"peers" not in rotated  # type: ignore[operator]
    new_url, _ = exported(bob, tmp_path, "shared.bin")
    assert b"failure reason" not in announce(new_url, info_hash)

    # After leave_group, bob's (new) passkey no longer gets the swarm.
    bob.ok("leave_group lab")
    left = announce(new_url, info_hash)
    assert left == {b"failure reason": b"unknown torrent"}
