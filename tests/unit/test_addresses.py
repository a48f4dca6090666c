"""Addresses as people type them: host names are resolved for the client's own
address and --advertise, and kept as names in tracker_info.txt (TLS checks them)."""

from __future__ import annotations

import re

import pytest

from minitorrent.errors import ConfigError
from minitorrent.trackers import TrackerAddress, parse_endpoint, parse_tracker_lines


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("localhost:18000", ("127.0.0.1", 18000)),
        ("10.0.0.7:6881", ("10.0.0.7", 6881)),
        ("[::1]:6881", ("::1", 6881)),
    ],
)
def test_an_endpoint_is_an_ip_address_and_a_port(text: str, endpoint: tuple[str, int]) -> None:
    assert parse_endpoint(text) == endpoint


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("no-such-host.invalid:80", "address 'no-such-host.invalid:80': cannot resolve"),
        ("bad_host!:80", "'bad_host!' is not an IP address or host name"),
        ("localhost", "address 'localhost' is not IP:PORT"),
        ("localhost:0", "'0' is not a port number"),
    ],
)
def test_a_bad_endpoint_is_one_clear_error(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(why)):
        parse_endpoint(text)


def test_tracker_entries_keep_their_host_names() -> None:
    lines = ["localhost:5353", "https://tracker.example.org:443", "localhost", "5354"]
    assert parse_tracker_lines(lines, "tracker_info.txt") == [
        TrackerAddress("localhost", 5353),
        TrackerAddress("tracker.example.org", 443, "https"),
        TrackerAddress("localhost", 5354),
    ]
