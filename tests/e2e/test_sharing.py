"""File sharing end to end: real tracker and client processes on loopback.

Swarms: several seeders at once, downloaders serving each other, a seeder killed
mid-download, a peer that lies. Every check is what a user can see: the bytes of the
downloaded file, `show_downloads`, `list_shares` and the per-peer counters of `peers`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.driver import Client, free_port, password_of

from .sharing_helpers import (
    FakePeer,
    MiB,
    PortForward,
    TrackerUser,
    announce_times,
    download_line,
    frozen,
    honest_blocks,
    list_files,
    lying_blocks,
    own_peer_id,
    peers,
    quote,
    tracker_port,
    uploaded_bytes,
    wait_for,
    write_random,
)

MakeUsers = Callable[..., list[Client]]


def test_three_seeders_each_serve_a_share(
    make_users: MakeUsers, tracker_db: Path, tmp_path: Path
) -> None:
    *seeders, dan = make_users("ann", "ben", "cat", "dan")
    src = tmp_path / "seed" / "random.bin"
    data = write_random(src, 20 * MiB, seed=1)
    for seeder in seeders:
        seeder.ok(f"upload_file {quote(src)} lab")
    assert list_files(dan, "lab")["random.bin"].peers == 3

    dest = tmp_path / "dan"
    dest.mkdir()
    # The seeders start answering together, even on a busy machine: dan's connections
    # wait in their listen queues until they thaw.
    with frozen(*seeders):
        dan.ok(f"download_file lab random.bin {quote(dest)}")
        wait_for(lambda: announce_times(tracker_db, "dan"), "dan's first announce")
    assert dan.ok("wait", timeout=120) == ["1 download(s) complete"]

    assert (dest / "random.bin").read_bytes() == data
    assert download_line(dan, "lab", "random.bin") == "[C] [lab] random.bin"
    # Every seeder sent part of the file: dan received data from each of their peer
    # ids, and each seeder counts bytes uploaded to dan (`peers`) and in `list_shares`.
    received = peers(dan, "random.bin")
    dan_id = own_peer_id(dan)
    assert set(received) == {own_peer_id(seeder) for seeder in seeders}
    assert sum(line.down for line in received.values()) >= len(data)
    for seeder in seeders:
        assert received[own_peer_id(seeder)].down > 0, received
        assert peers(seeder, "random.bin")[dan_id].up > 0
        assert uploaded_bytes(seeder, "random.bin") > 0
    # dan is now a seeder too.
    assert list_files(dan, "lab")["random.bin"].peers == 4


def test_downloaders_serve_each_other_before_either_is_complete(
    make_users: MakeUsers, tracker_info: Path, tmp_path: Path
) -> None:
    """The only seed gives half of the pieces to each downloader (even pieces to the
    first that connects, odd ones to the other): each can only finish with pieces the
    other downloaded, so each served the other while both were incomplete."""
    bob, cat = make_users("bob", "cat")
    src = tmp_path / "xavier" / "halves.bin"
    data = write_random(src, 8 * MiB, seed=2)
    xavier = TrackerUser(tracker_port(tracker_info), "xavier", "xavier-password")
    xavier.request_to_join("lab")
    bob.ok("accept_request lab xavier")
    info = xavier.register(src, "lab")
    first_seen: list[bytes] = []

    def half(peer_id: bytes) -> set[int]:
        if peer_id not in first_seen:
            first_seen.append(peer_id)
        parity = first_seen.index(peer_id) % 2
        return {i for i in range(info.num_pieces) if i % 2 == parity}

    seed = FakePeer(xavier, info, honest_blocks(data, info), pieces_for=half)
    try:
        bob.ok(f"download_file lab halves.bin {quote(tmp_path / 'bob.bin')}")
        cat.ok(f"download_file lab halves.bin {quote(tmp_path / 'cat.bin')}")
        bob.ok("wait", timeout=60)
        cat.ok("wait", timeout=60)
    finally:
        seed.close()

    assert (tmp_path / "bob.bin").read_bytes() == data
    assert (tmp_path / "cat.bin").read_bytes() == data
    assert len(first_seen) == 2
    for remote in first_seen:  # the seed really sent each only half of the file
        assert seed.stats(remote)[2] <= len(data) // 2 + info.piece_length
    bob_counts, cat_counts = peers(bob, "halves.bin"), peers(cat, "halves.bin")
    del bob_counts[seed.peer_id.hex()], cat_counts[seed.peer_id.hex()]
    [(cat_id, from_cat)] = bob_counts.items()
    [(bob_id, from_bob)] = cat_counts.items()
    assert {bytes.fromhex(bob_id), bytes.fromhex(cat_id)} == set(first_seen)
    half_size = len(data) // 2 - info.piece_length
    assert from_cat.down >= half_size and from_cat.up >= half_size, from_cat
    assert from_bob.down >= half_size and from_bob.up >= half_size, from_bob


@pytest.mark.slow
def test_seeder_killed_mid_download(make_users: MakeUsers, tmp_path: Path) -> None:
    *seeders, dan = make_users("ann", "ben", "cat", "dan")
    src = tmp_path / "seed" / "big.bin"
    data = write_random(src, 48 * MiB, seed=3)
    for seeder in seeders:
        seeder.ok(f"upload_file {quote(src)} lab")
    dest = tmp_path / "big.bin"
    dan.ok(f"download_file lab big.bin {quote(dest)}")
    # Once every seeder has sent something, freeze dan, kill one seeder, thaw dan.
    wait_for(
        lambda: sum(line.down > 0 for line in peers(dan, "big.bin").values()) == 3,
        "data from the three seeders",
    )
    with frozen(dan):
        assert not dest.exists(), "the download ended before the kill; use a larger file"
        seeders[0].kill()
    assert dan.ok("wait", timeout=120) == ["1 download(s) complete"]
    assert dest.read_bytes() == data
    counts = peers(dan, "big.bin")
    assert [line.mark for line in counts.values()].count("disconnected") == 3  # dan seeds now
    assert all(line.down > 0 for line in counts.values())


def test_stalled_seeder_does_not_hold_up_the_end(make_users: MakeUsers, tmp_path: Path) -> None:
    """A seeder that stops answering mid-download (SIGSTOP: its connections stay open)
    does not keep its requested blocks hostage: the end game gets them elsewhere."""
    *seeders, dan = make_users("ann", "ben", "cat", "dan")
    src = tmp_path / "seed" / "big.bin"
    data = write_random(src, 32 * MiB, seed=5)
    for seeder in seeders:
        seeder.ok(f"upload_file {quote(src)} lab")
    dest = tmp_path / "big.bin"
    dan.ok(f"download_file lab big.bin {quote(dest)}")
    wait_for(
        lambda: sum(line.down > 0 for line in peers(dan, "big.bin").values()) == 3,
        "data from the three seeders",
    )
    with frozen(seeders[0]):
        assert not dest.exists(), "the download ended before the stall; use a larger file"
        # Well within the 20 s after which a stalled peer is dropped.
        assert dan.ok("wait", timeout=15) == ["1 download(s) complete"]
    assert dest.read_bytes() == data


@pytest.mark.slow
def test_peer_sending_corrupt_data_is_banned(
    make_users: MakeUsers, tracker_info: Path, tracker_db: Path, tmp_path: Path
) -> None:
    """Mallory, a member, announces the file and answers every request with random
    bytes. The honest seeders are frozen meanwhile, so every bad piece is hers alone."""
    ann, ben, dan = make_users("ann", "ben", "dan")
    src = tmp_path / "seed" / "data.bin"
    data = write_random(src, 12 * MiB, seed=4)
    ann.ok(f"upload_file {quote(src)} lab")
    ben.ok(f"upload_file {quote(src)} lab")
    mallory = TrackerUser(tracker_port(tracker_info), "mallory", "mallory-password")
    mallory.request_to_join("lab")
    ann.ok("accept_request lab mallory")
    liar = FakePeer(mallory, mallory.file_info("lab", "data.bin"), lying_blocks)
    dest = tmp_path / "data.bin"
    try:
        with frozen(ann), frozen(ben):
            dan.ok(f"download_file lab data.bin {quote(dest)}")
            wait_for(
                lambda: (
                    peers(dan, "data.bin").get(liar.peer_id.hex()) is not None
                    and peers(dan, "data.bin")[liar.peer_id.hex()].mark == "banned"
                ),
                "mallory banned",
            )
            # Two more announces (each lists mallory again): no new connection to her.
            seen: set[str] = set()

            def announced_twice_more() -> bool:
                seen.update(announce_times(tracker_db, "dan"))
                return len(seen) >= 3

            wait_for(announced_twice_more, "two more announces of dan")
        assert dan.ok("wait", timeout=60) == ["1 download(s) complete"]
        [dan_id] = liar.remote_ids()
        connections, closed, served = liar.stats(dan_id)
    finally:
        liar.close()
    assert dest.read_bytes() == data
    assert (connections, closed) == (1, 1) and served > 0
    marks = {pid: line.mark for pid, line in peers(dan, "data.bin").items()}
    assert marks.pop(liar.peer_id.hex()) == "banned"
    assert "banned" not in marks.values()  # the honest seeders were not blamed
    assert download_line(dan, "lab", "data.bin") == "[C] [lab] data.bin"


def test_advertised_address_behind_a_port_forward(
    make_users: MakeUsers, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    """ann's client listens on one port but tells the tracker another, which a port
    forward (a NAT router) relays to it: bob downloads through the forward."""
    for client in make_users("ann", "bob"):
        client.quit()
    outside = free_port()
    ann = make_client("--advertise", f"127.0.0.1:{outside}", state="ann")
    ann.ok(f"login ann {password_of('ann')}")
    bob = make_client(state="bob")
    bob.ok(f"login bob {password_of('bob')}")
    forward = PortForward(outside, ann.port)
    try:
        src = tmp_path / "ann" / "nat.bin"
        data = write_random(src, 4 * MiB, seed=6)
        ann.ok(f"upload_file {quote(src)} lab")
        bob.ok(f"download_file lab nat.bin {quote(tmp_path / 'nat.bin')}")
        bob.ok("wait")
        relayed = forward.relayed
    finally:
        forward.close()
    assert (tmp_path / "nat.bin").read_bytes() == data
    assert relayed >= len(data)
    assert peers(bob, "nat.bin")[own_peer_id(ann)].down == len(data)
