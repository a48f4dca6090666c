"""Output a person reads at a glance: honest download figures, tracker states, times
of join requests, `echo` of a whole line."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from minitorrent.driver import Client, free_port, password_of

from .helpers import table
from .sharing_helpers import (
    MiB,
    peers,
    quote,
    tracker_port,
    wait_for,
    write_random,
)

MakeUsers = Callable[..., list[Client]]


def test_trackers_never_asked_ok_and_failed(
    make_client: Callable[..., Client], tracker_info: Path, tmp_path: Path
) -> None:
    dead, live, unused = free_port(), tracker_port(tracker_info), free_port()
    info = tmp_path / "three_trackers.txt"
    info.write_text(f"127.0.0.1:{dead}\n127.0.0.1:{live}\n127.0.0.1:{unused}\n")
    client = make_client(info=info)
    assert table(client.ok("trackers")) == [
        [f"http://127.0.0.1:{port}", "not", "contacted", "yet"] for port in (dead, live, unused)
    ]
    client.ok(f"create_user ann {password_of('ann')}")  # the first refuses: the second answers
    rows = client.ok("trackers")[1:]
    assert re.fullmatch(rf"\s+http://127\.0\.0\.1:{dead}\s+failed, retrying in 1[0-5] s", rows[0])
    assert re.fullmatch(rf"\*\s+http://127\.0\.0\.1:{live}\s+ok", rows[1])
    assert re.fullmatch(rf"\s+http://127\.0\.0\.1:{unused}\s+not contacted yet", rows[2])


def test_join_requests_show_how_long_ago(make_users: MakeUsers) -> None:
    ann, bob = make_users("ann", "bob", group=None)
    ann.ok("create_group lab")
    bob.ok("join_group lab")
    [row] = table(ann.ok("list_requests lab"))
    assert row[0] == "bob" and re.fullmatch(r"just now|\d+ s ago", " ".join(row[1:])), row


def test_echo_prints_the_rest_of_its_line(start_client: Callable[..., Client]) -> None:
    client = start_client()
    assert client.ok("echo step 2 of 3:   uploads done") == ["step 2 of 3: uploads done"]
    assert client.ok("echo") == [""]


def test_peers_shows_whose_each_peer_is_and_its_address(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    src = tmp_path / "ann" / "notes.bin"
    data = write_random(src, MiB, seed=7)
    ann.ok(f"upload_file {quote(src)} lab")
    bob.ok(f"download_file lab notes.bin {quote(tmp_path / 'notes.bin')}")
    assert bob.ok("wait", timeout=60) == ["1 download(s) complete"]
    assert (tmp_path / "notes.bin").read_bytes() == data
    [from_ann] = peers(bob, "notes.bin").values()
    assert from_ann.whose == f"ann@127.0.0.1:{ann.port}"
    assert from_ann.down == len(data)
    # Ann learns whose her peer is from her next announce (every 2 s here).
    wait_for(
        lambda: (
            [p.whose for p in peers(ann, "notes.bin").values()] == [f"bob@127.0.0.1:{bob.port}"]
        ),
        "bob listed to ann",
    )
