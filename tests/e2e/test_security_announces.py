"""Announces as a hostile member sends them, to a real tracker process: bad ports,
addresses nobody should be sent to, other groups' torrents, and a file announced the
moment it is registered."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx
import pytest
from fastbencode import bdecode, bencode  # type: ignore[attr-defined]

from minitorrent.driver import Tracker

from .sharing_helpers import tracker_port

PEER_A = b"-LT2110-abcdefghijkl"
PEER_B = b"-LT2110-mnopqrstuvwx"


def make_info(group: str, name: str, data: bytes) -> bytes:
    """A private v1 info dictionary, canonical bencoding (as a client uploads it)."""
    piece = 16384
    pieces = b"".join(
        hashlib.sha1(data[i : i + piece]).digest() for i in range(0, len(data), piece)
    )
    info = {
        b"length": len(data),
        b"name": name.encode(),
        b"piece length": piece,
        b"pieces": pieces,
        b"private": 1,
        b"source": group.encode(),
    }
    return bytes(bencode(info))


class Member:
    """A user driven through the tracker's JSON API, with its passkey for BitTorrent
    announces on a keep-alive connection of its own."""

    def __init__(self, port: int, user_id: str) -> None:
        base = f"http://127.0.0.1:{port}"
        self.api = httpx.Client(base_url=f"{base}/api/v1", timeout=10)
        self.bt = httpx.Client(base_url=base, timeout=10)
        self.user_id = user_id
        credentials = {"user_id": user_id, "password": f"{user_id}-password"}
        self.api.post("/users", json=credentials).raise_for_status()
        login = self.api.post("/sessions", json=credentials)
        login.raise_for_status()
        self.api.headers["Authorization"] = f"Bearer {login.json()['token']}"
        self.passkey: str = login.json()["passkey"]

    def register(self, group: str, name: str, data: bytes | None = None) -> bytes:
        """Register a file; its info-hash."""
        data = os.urandom(64) if data is None else data
        info = make_info(group, name, data)
        body = {"info": base64.b64encode(info).decode(), "sha1": hashlib.sha1(data).hexdigest()}
        self.api.post(f"/groups/{group}/files", json=body).raise_for_status()
        return hashlib.sha1(info).digest()

    def announce(self, info_hash: bytes, peer_id: bytes = PEER_A, **extra: str) -> httpx.Response:
        params = {"port": "6881", "uploaded": "0", "downloaded": "0", "left": "0"} | extra
        query = f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id)}&"
        query += "&".join(f"{key}={value}" for key, value in params.items())
        return self.bt.get(f"/announce/{self.passkey}?{query}")

    def scrape(self, info_hash: bytes) -> httpx.Response:
        return self.bt.get(f"/scrape/{self.passkey}?info_hash={quote_from_bytes(info_hash)}")

    def json_announce(self, info_hash: bytes, ip: str = "127.0.0.1") -> httpx.Response:
        body = {"info_hash": info_hash.hex(), "peer_id": "ab" * 20, "ip": ip, "port": 7000}
        return self.api.post("/announce", json=body | {"left": 0})

    def close(self) -> None:
        self.api.close()
        self.bt.close()


def bencoded(response: httpx.Response) -> dict[bytes, object]:
    assert response.status_code == 200, response.text
    answer = bdecode(response.content)
    assert isinstance(answer, dict), response.content
    return answer


def failure(response: httpx.Response) -> str:
    answer = bencoded(response)
    assert set(answer) == {b"failure reason"}, answer
    reason = answer[b"failure reason"]
    assert isinstance(reason, bytes)
    return reason.decode()


def compact_ips(answer: dict[bytes, object]) -> list[str]:
    peers = answer[b"peers"]
    assert isinstance(peers, bytes)
    return [".".join(str(b) for b in peers[i : i + 4]) for i in range(0, len(peers), 6)]


@pytest.fixture
def members(tracker: Tracker, tracker_info: Path) -> Iterator[dict[str, Member]]:
    """ann admin of "lab" with member bob; cat admin of "other", a stranger to "lab"."""
    port = tracker_port(tracker_info)
    people = {name: Member(port, name) for name in ("ann", "bob", "cat")}
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    ann.api.post("/groups", json={"group_id": "lab"}).raise_for_status()
    cat.api.post("/groups", json={"group_id": "other"}).raise_for_status()
    bob.api.post("/groups/lab/requests").raise_for_status()
    ann.api.post("/groups/lab/requests/bob/accept").raise_for_status()
    yield people
    for member in people.values():
        member.close()


def test_a_bad_port_gets_a_bencoded_failure_and_the_tracker_no_traceback(
    members: dict[str, Member], tracker: Tracker
) -> None:
    ann = members["ann"]
    info_hash = ann.register("lab", "a.bin")
    # A first announce puts the passkey and the peer in memory: from then on the
    # tracker's own HTTP protocol answers without a task (http_fast.py), where an
    # invalid port used to escape as an exception that dropped the connection.
    assert b"peers" in bencoded(ann.announce(info_hash))
    refusals = {
        "0": "port must be 1-65535",
        "70000": "port must be 1-65535",
        "-1": "invalid port",
        "abc": "invalid port",
    }
    for port, reason in refusals.items():
        assert failure(ann.announce(info_hash, port=port)) == reason, port
        assert failure(ann.announce(info_hash, peer_id=PEER_B, port=port)) == reason, port
    assert b"peers" in bencoded(ann.announce(info_hash))  # the same connection, still served
    assert tracker.quit() == 0
    assert not [line for line in tracker.lines if "Traceback" in line], tracker.lines


def test_a_peer_is_listed_only_under_a_unicast_address(members: dict[str, Member]) -> None:
    ann, bob = members["ann"], members["bob"]
    info_hash = ann.register("lab", "a.bin")
    # A client listening on 0.0.0.0 is listed where it connects from.
    assert b"peers" in bencoded(ann.announce(info_hash, ip="0.0.0.0"))
    assert ann.json_announce(info_hash, ip="0.0.0.0").status_code == 200
    for ip in ("255.255.255.255", "224.0.0.1"):
        # Re-announces of a known peer (answered from memory) and new ones alike.
        assert failure(ann.announce(info_hash, ip=ip)) == f"ip {ip} is not a unicast address"
        refused = ann.json_announce(info_hash, ip=ip)
        assert refused.status_code == 400 and refused.json()["error"] == "bad_ip", refused.text
        assert failure(ann.announce(info_hash, peer_id=PEER_B, ip=ip)).startswith(f"ip {ip} ")
    seen = bencoded(bob.announce(info_hash, peer_id=b"-BB0001-000000000000", left="5"))
    assert compact_ips(seen) == ["127.0.0.1", "127.0.0.1"]
    listed = bob.json_announce(info_hash).json()["peers"]
    assert {peer["ip"] for peer in listed} == {"127.0.0.1"}


def test_another_groups_torrent_is_answered_as_an_unknown_one(
    members: dict[str, Member],
) -> None:
    ann, cat = members["ann"], members["cat"]
    theirs = ann.register("lab", "secret.bin")
    assert b"peers" in bencoded(ann.announce(theirs))
    unknown = hashlib.sha1(b"no such torrent").digest()
    cat.announce(unknown)  # cat's passkey in memory too: both go the same way
    vouch = f"/swarms/{{}}/peers/{PEER_A.hex()}?ip=127.0.0.1"
    asks: list[Callable[[bytes], httpx.Response]] = [
        lambda ih: cat.announce(ih),
        lambda ih: cat.announce(ih, event="started", compact="0"),
        lambda ih: cat.scrape(ih),
        lambda ih: cat.json_announce(ih),
        lambda ih: cat.api.get(vouch.format(ih.hex())),
    ]
    for ask in asks:
        answers = [ask(ih) for ih in (theirs, unknown)]
        assert answers[0].status_code == answers[1].status_code
        assert answers[0].content == answers[1].content
    assert failure(cat.announce(theirs)) == "unknown torrent"


def test_an_announce_right_after_registration_knows_the_file(
    members: dict[str, Member],
) -> None:
    """Whatever the tracker remembers of an announce for an info-hash it did not know,
    the file is known to the next announce once its registration has been answered."""
    ann = members["ann"]
    assert b"peers" in bencoded(ann.announce(ann.register("lab", "warm-up.bin")))
    for n in range(10):
        data = os.urandom(100)
        info_hash = hashlib.sha1(make_info("lab", f"f{n}.bin", data)).digest()
        assert failure(ann.announce(info_hash)) == "unknown torrent"
        assert ann.json_announce(info_hash).json()["error"] == "unknown_torrent"
        assert bencoded(ann.scrape(info_hash)) == {b"files": {}}
        assert ann.register("lab", f"f{n}.bin", data) == info_hash
        answer = bencoded(ann.announce(info_hash))
        assert (answer[b"complete"], answer[b"incomplete"]) == (1, 0), answer
        assert ann.json_announce(info_hash).json()["seeders"] == 2
        files = bencoded(ann.scrape(info_hash))[b"files"]
        assert isinstance(files, dict) and files[info_hash][b"complete"] == 2
