"""Which address a peer is listed under (services/addresses.py), and that both announces
apply the rule to the address the request really came from."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import pytest
from fastapi.testclient import TestClient
from fastbencode import bdecode  # type: ignore[attr-defined]

from minitorrent.tracker.services.addresses import peer_address
from minitorrent.tracker.services.errors import Invalid

from .helpers import ApiUser, api_group, make_info, same_loop

# (claimed, source) -> listed address
ALLOWED = [
    (None, "10.0.0.7", "10.0.0.7"),
    ("0.0.0.0", "10.0.0.7", "10.0.0.7"),  # listening on every interface
    ("::", "2001:db8::5", "2001:db8::5"),
    ("10.0.0.7", "10.0.0.7", "10.0.0.7"),
    ("::ffff:10.0.0.7", "10.0.0.7", "10.0.0.7"),
    ("192.168.1.20", "10.0.0.7", "192.168.1.20"),  # same site: private from private
    ("93.184.216.34", "127.0.0.1", "93.184.216.34"),  # the tracker's host vouches
    ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
    ("93.184.216.34", "93.184.216.34", "93.184.216.34"),
    (None, "::ffff:93.184.216.34", "93.184.216.34"),
]
REFUSED = [
    ("255.255.255.255", "127.0.0.1", "is not a unicast address"),
    ("224.0.0.1", "127.0.0.1", "is not a unicast address"),
    ("ff02::1", "::1", "is not a unicast address"),
    ("240.0.0.1", "127.0.0.1", "is not a unicast address"),
    ("169.254.1.1", "10.0.0.7", "is not a unicast address"),
    ("127.0.0.1", "10.0.0.7", "may not be announced from 10.0.0.7"),  # aim at the victim
    ("93.184.216.34", "10.0.0.7", "may not be announced from 10.0.0.7"),
    ("93.184.216.35", "93.184.216.34", "may not be announced from 93.184.216.34"),
    ("10.0.0.8", "93.184.216.34", "may not be announced from 93.184.216.34"),
    ("not-an-ip", "10.0.0.7", "not an IP address"),
]


@pytest.mark.parametrize(("claimed", "source", "listed"), ALLOWED)
def test_allowed_addresses(claimed: str | None, source: str, listed: str) -> None:
    assert peer_address(claimed, source) == listed


@pytest.mark.parametrize(("claimed", "source", "reason"), REFUSED)
def test_refused_addresses(claimed: str, source: str, reason: str) -> None:
    with pytest.raises(Invalid, match=reason) as refused:
        peer_address(claimed, source)
    assert refused.value.code == "bad_ip"


def test_both_announces_judge_the_claim_by_the_requests_source(http: TestClient) -> None:
    ann = ApiUser(http, "ann")
    api_group("g", ann)
    info_hash = ann.upload("g", make_info("g")).json()["info_hash"]
    remote = same_loop(http, ("10.0.0.7", 40000))  # ann's client, seen from the LAN
    headers = {"Authorization": f"Bearer {ann.token}"}
    body = {"info_hash": info_hash, "peer_id": "ab" * 20, "port": 7000, "left": 0}
    refused = remote.post("/api/v1/announce", json=body | {"ip": "127.0.0.1"}, headers=headers)
    assert refused.status_code == 400 and refused.json()["error"] == "bad_ip", refused.text
    query = f"info_hash={quote_from_bytes(bytes.fromhex(info_hash))}&peer_id={'x' * 20}"
    query += "&port=7001&left=0&ip=127.0.0.1"
    answer = bdecode(remote.get(f"/announce/{ann.passkey}?{query}").content)
    assert answer == {
        b"failure reason": b"ip 127.0.0.1 may not be announced from 10.0.0.7: "
        b"give the address you connect from"
    }
    listed = remote.post("/api/v1/announce", json=body | {"ip": "0.0.0.0"}, headers=headers)
    assert listed.status_code == 200, listed.text
    others = ann.post("/announce", body | {"peer_id": "cd" * 20, "ip": "127.0.0.1"}).json()
    assert [(p["ip"], p["port"]) for p in others["peers"]] == [("10.0.0.7", 7000)]
