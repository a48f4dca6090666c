"""GET /swarms/{info_hash}/peers/{peer_id}?ip=: the tracker vouches for swarm members."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import pytest
from fastapi.testclient import TestClient

from .helpers import ApiUser, FakeClock, api_group, make_info

PEER = "ab" * 20


class Group:
    """ann (admin) and bob share group "g" with one file; cat is in no group."""

    def __init__(self, http: TestClient) -> None:
        self.http = http
        self.ann, self.bob, self.cat = (ApiUser(http, n) for n in ("ann", "bob", "cat"))
        api_group("g", self.ann, self.bob)
        self.ih: str = self.ann.upload("g", make_info("g")).json()["info_hash"]

    def announce(self, user: ApiUser, peer: str = PEER, ip: str = "10.0.0.7") -> None:
        body = {"info_hash": self.ih, "peer_id": peer, "ip": ip, "port": 7000, "left": 5}
        assert user.post("/announce", body | {"interval": 10}).status_code == 200

    def ask(self, user: ApiUser, peer: str = PEER, ip: str = "10.0.0.7") -> bool | int:
        answer = user.get(f"/swarms/{self.ih}/peers/{peer}?ip={ip}")
        if answer.status_code != 200:
            return answer.status_code
        body = answer.json()
        assert (body["info_hash"], body["peer_id"], body["ip"]) == (self.ih, peer.lower(), ip)
        return bool(body["in_swarm"])


@pytest.fixture
def group(http: TestClient) -> Group:
    return Group(http)


def test_a_live_member_peer_is_vouched_for_from_its_address_only(group: Group) -> None:
    assert group.ask(group.ann) is False
    group.announce(group.bob)
    assert group.ask(group.ann) is True
    assert group.ask(group.ann, ip="10.0.0.8") is False  # same peer id, other address
    assert group.ask(group.ann, peer="cd" * 20) is False
    assert group.ask(group.bob, peer=PEER.upper()) is True  # hex in either case


def test_a_passkey_announce_vouches_for_its_address(group: Group) -> None:
    """libtorrent shows each peer a fresh peer id, not the one it announced: for a
    BitTorrent client (passkey) the address decides; for a session, the peer id too."""
    peer_id = bytes.fromhex(PEER)
    query = (
        f"info_hash={quote_from_bytes(bytes.fromhex(group.ih))}&peer_id={quote_from_bytes(peer_id)}"
        "&port=6881&left=0&ip=10.0.0.7"
    )
    assert b"interval" in group.http.get(f"/announce/{group.bob.passkey}?{query}").content
    assert group.ask(group.ann) is True
    assert group.ask(group.ann, peer="cd" * 20) is True
    assert group.ask(group.ann, peer="cd" * 20, ip="10.0.0.8") is False
    group.announce(group.ann, peer="ef" * 20, ip="10.0.0.9")  # a session's peer
    assert group.ask(group.bob, peer="ef" * 20, ip="10.0.0.9") is True
    assert group.ask(group.bob, peer="cd" * 20, ip="10.0.0.9") is False


def test_expired_stopped_and_departed_peers_are_not(group: Group, clock: FakeClock) -> None:
    group.announce(group.bob)
    clock.advance(2 * 10 + 5 + 1)  # 2 * interval + grace: the peer has expired
    assert group.ask(group.ann) is False
    group.announce(group.bob)
    assert group.bob.delete("/groups/g/membership").json()["status"] == "left"
    assert group.ask(group.ann) is False  # leaving ends the vouch at once


def test_only_members_may_ask_and_inputs_are_checked(group: Group) -> None:
    group.announce(group.bob)
    assert group.ask(group.cat) == 404  # a stranger learns nothing, not even that it exists
    assert group.ask(group.ann, peer="zz" * 20) == 400
    assert group.ask(group.ann, ip="not-an-ip") == 400
    unknown = group.ann.get(f"/swarms/{'0' * 40}/peers/{PEER}?ip=10.0.0.7")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_torrent"
    missing_ip = group.ann.get(f"/swarms/{group.ih}/peers/{PEER}")
    assert missing_ip.status_code == 422 and missing_ip.json()["error"] == "invalid_request"
