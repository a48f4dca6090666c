"""Faults, with real tracker and client processes on loopback: a client killed
mid-download (and its state file damaged), a peer that stops in the middle of a block,
a shared file changed on disk under its seeder."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from minitorrent.driver import Client, password_of
from minitorrent.metainfo import InfoDict, piece_length_for

from .sharing_helpers import (
    FakePeer,
    MiB,
    download_line,
    frozen,
    honest_blocks,
    list_files,
    member,
    own_peer_id,
    peers,
    quote,
    random_bytes,
    wait_for,
    write_random,
)

MakeUsers = Callable[..., list[Client]]


@pytest.mark.parametrize("cut", ["stall", "close"])
def test_peer_stopping_mid_block(
    cut: Literal["stall", "close"], make_users: MakeUsers, tracker_info: Path, tmp_path: Path
) -> None:
    """Mallory, a member, sends half of a piece message, then nothing more (the connection
    stays open: dropped after --stall-timeout) or closes the connection. Ann, the honest
    seeder, is frozen until then: the download completes from her, byte-identical."""
    ann, dan = make_users("ann", "dan", extra=("--stall-timeout", "2"))
    src = tmp_path / "seed" / "data.bin"
    data = write_random(src, 8 * MiB, seed=31)
    ann.ok(f"upload_file {quote(src)} lab")
    mallory = member(tracker_info, ann, "mallory")
    info = mallory.file_info("lab", "data.bin")
    half = FakePeer(mallory, info, honest_blocks(data, info), cut=cut)
    dest = tmp_path / "data.bin"
    try:
        with frozen(ann):
            dan.ok(f"download_file lab data.bin {quote(dest)}")
            wait_for(lambda: sum(half.cut_short.values()) > 0, "half a piece message")
            # Well before the default stall timeout of 20 s, dan drops her.
            wait_for(
                lambda: peers(dan, "data.bin")[half.peer_id.hex()].mark == "disconnected",
                "mallory dropped",
                timeout=10,
            )
            assert download_line(dan, "lab", "data.bin").startswith("[D] [lab] data.bin ")
        assert dan.ok("wait", timeout=60) == ["1 download(s) complete"]
    finally:
        half.close()
    assert dest.read_bytes() == data
    assert all(served == 0 for served in half.served.values())  # no whole block from her
    assert peers(dan, "data.bin")[half.peer_id.hex()].mark != "banned"
    assert list_files(dan, "lab")["data.bin"].peers >= 2  # dan seeds it now


def overwrite_piece(path: Path, index: int, piece_length: int) -> None:
    """Change one piece of a file in place (same size; a new mtime)."""
    with path.open("r+b") as f:
        f.seek(index * piece_length)
        f.write(bytes(piece_length))


def test_shared_file_changed_on_disk(
    make_users: MakeUsers, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    """Ann's copy changes under her after upload_file: she notices when a piece read back
    fails its hash, stops sharing it with a notice, never sends it and withdraws it at the
    tracker. Dan completes from Ben's intact copy (frozen until Ann gave up); Cat, with
    only Ann, ends [F], and the file, with no sharer left, leaves list_files."""
    ann, ben, dan = make_users("ann", "ben", "dan")
    data = write_random(tmp_path / "ann" / "data.bin", 8 * MiB, seed=51)
    (tmp_path / "ben").mkdir()
    (tmp_path / "ben" / "data.bin").write_bytes(data)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'data.bin')} lab")
    ben.ok(f"upload_file {quote(tmp_path / 'ben' / 'data.bin')} lab")
    write_random(tmp_path / "ann" / "only.bin", 4 * MiB, seed=52)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'only.bin')} lab")
    for name in ("data.bin", "only.bin"):
        path = tmp_path / "ann" / name
        overwrite_piece(path, 5, piece_length_for(path.stat().st_size))
    ann_id = own_peer_id(ann)

    with frozen(ben):
        dan.ok(f"download_file lab data.bin {quote(tmp_path / 'dan.bin')}")
        mark = len(ann.lines)
        ann.wait_for_line(
            r"^notice: stopped sharing \[lab\] data\.bin: the shared file .*data\.bin changed "
            r"on disk \(piece 5 no longer matches\); stopped sharing it$",
            start=mark,
        )
    assert dan.ok("wait", timeout=60) == ["1 download(s) complete"]
    assert (tmp_path / "dan.bin").read_bytes() == data
    from_ann = peers(dan, "data.bin")[ann_id]
    assert from_ann.mark == "disconnected" and from_ann.down < len(data), from_ann

    cat = make_client("--no-peer-timeout", "3", state="cat")
    cat.ok("create_user cat cat-password")
    cat.ok("login cat cat-password")
    cat.ok("join_group lab")
    ann.ok("accept_request lab cat")
    cat.ok(f"download_file lab only.bin {quote(tmp_path / 'cat.bin')}")
    # Whichever cat noticed first: its only peer gone, or the file withdrawn.
    why = r"(no peer has the missing pieces .*|'only\.bin' is no longer shared in 'lab')"
    cat.fails("wait", rf"^error: 1 download\(s\) failed: only\.bin: {why}$")
    assert re.fullmatch(rf"\[F\] \[lab\] only\.bin: {why}", download_line(cat, "lab", "only.bin"))
    assert "only.bin" not in list_files(cat, "lab")
    assert list_files(cat, "lab")["data.bin"].peers == 2  # ben and dan, not ann
    assert peers(cat, "only.bin")[ann_id].mark == "disconnected"  # not banned: no bad data
    assert not (tmp_path / "cat.bin").exists()
    # Ann shares neither file any more; her other commands still work.
    shares = ann.ok("list_shares")
    assert not any(" data.bin " in line or " only.bin " in line for line in shares), shares


@dataclass(frozen=True)
class HalfDone:
    src: Path  # Ann's copy of the file (not shared yet)
    data: bytes
    info: InfoDict
    pieces: set[int]  # the verified ones
    dest: Path


def half_downloaded(ann: Client, dan: Client, tracker_info: Path, tmp_path: Path) -> HalfDone:
    """Dan downloads 'data.bin' (16 MiB) from its only seed, Mallory, who has the first
    half of the pieces; returns once he has them all (50.0%) and Mallory is gone."""
    src = tmp_path / "ann" / "data.bin"
    data = write_random(src, 16 * MiB, seed=62)
    mallory = member(tracker_info, ann, "mallory")
    info = mallory.register(src, "lab")
    pieces = set(range(info.num_pieces // 2))
    seed = FakePeer(mallory, info, honest_blocks(data, info), pieces_for=lambda _: pieces)
    dest = tmp_path / "dan" / "data.bin"
    dest.parent.mkdir()
    try:
        dan.ok(f"download_file lab data.bin {quote(dest)}")
        wait_for(
            lambda: download_line(dan, "lab", "data.bin").startswith("[D] [lab] data.bin 50.0% "),
            "half of the file",
        )
    finally:
        seed.close()
    return HalfDone(src, data, info, pieces, dest)


def damage(state_db: Path, how: str) -> None:
    """Damage a killed client's state file and its write-ahead log (the state is both)."""
    for path in (state_db, state_db.with_name(state_db.name + "-wal")):
        if how == "junk":
            path.write_bytes(random_bytes(8192, seed=61))
        elif path.exists():  # "torn": the second half of each is lost
            with path.open("r+b") as f:
                f.truncate(path.stat().st_size // 2)


@pytest.mark.parametrize("how", [None, "junk", "torn"])
def test_killed_mid_download_resumes(
    how: str | None,
    make_users: MakeUsers,
    make_client: Callable[..., Client],
    tracker_info: Path,
    tmp_path: Path,
) -> None:
    """Dan is killed (SIGKILL) at half of a download: the only seed then, Mallory, has
    the first half of the pieces. A new process on his state directory resumes from the
    verified pieces (fetching exactly the missing ones, from Ann) and completes. With the
    state file damaged, login says so and download_file re-checks the .part instead."""
    ann, dan = make_users("ann", "dan")
    half = half_downloaded(ann, dan, tracker_info, tmp_path)
    dan.kill()
    if how is not None:
        damage(tmp_path / "state" / "dan" / "users" / "dan" / "state.db", how)

    info, dest = half.info, half.dest
    ann.ok(f"upload_file {quote(half.src)} lab")
    dan = make_client(state="dan")
    out = dan.ok(f"login dan {password_of('dan')}")
    verified = len(half.pieces)
    resumed = f"resuming [lab] data.bin ({verified} of {info.num_pieces} pieces already verified)"
    if how == "junk":
        assert any(
            re.fullmatch(
                r"notice: the state file .*state\.db was damaged; it was moved to .*", line
            )
            for line in out
        ), out
    if resumed not in out:  # no usable resume data: the .part is re-checked instead
        assert how is not None, out
        assert dan.ok(f"download_file lab data.bin {quote(dest.parent)}") == [
            f"resuming 'data.bin' from 'lab' to {dest} ({verified} of {info.num_pieces} "
            "pieces found good in data.bin.part)"
        ]
    assert dan.ok("wait", timeout=60) == ["1 download(s) complete"]
    assert dest.read_bytes() == half.data
    assert not dest.with_name("data.bin.part").exists()
    # No verified piece came again: what this process received is the missing half.
    received = sum(line.down for line in peers(dan, "data.bin").values())
    assert received == info.length - verified * info.piece_length, received


def test_disk_full_mid_download(make_users: MakeUsers, tracker_info: Path, tmp_path: Path) -> None:
    """Half-way through, no write may reach past 3/4 of Dan's file any more (RLIMIT_FSIZE,
    as a disk that filled up would refuse): the download fails with a clear message and
    keeps its verified pieces; Dan's other commands and a smaller download still work;
    once there is room again, download_file resumes it without fetching those again."""
    ann, dan = make_users("ann", "dan")
    half = half_downloaded(ann, dan, tracker_info, tmp_path)
    info, dest = half.info, half.dest
    dan.limit_file_size(info.length * 3 // 4)
    ann.ok(f"upload_file {quote(half.src)} lab")
    mark = len(dan.lines)
    dan.wait_for_line(
        r"^notice: download of \[lab\] data\.bin failed: file too large for this file system "
        r"or limit while writing .*data\.bin\.part$",
        start=mark,
    )
    assert download_line(dan, "lab", "data.bin").startswith("[F] [lab] data.bin: file too large")
    assert dest.with_name("data.bin.part").stat().st_size == info.length  # kept

    small = write_random(tmp_path / "ann" / "small.bin", 1 * MiB, seed=71)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'small.bin')} lab")
    dan.ok(f"download_file lab small.bin {quote(dest.parent)}")
    dan.fails("wait", r"1 download\(s\) failed: data\.bin: file too large")  # small.bin done
    assert (dest.parent / "small.bin").read_bytes() == small
    assert "lab" in dan.ok("list_groups")[1]

    dan.limit_file_size(None)  # room again
    assert dan.ok(f"download_file lab data.bin {quote(dest)}") == [
        f"resuming 'data.bin' from 'lab' to {dest}"
    ]
    assert dan.ok("wait", timeout=60) == ["2 download(s) complete"]
    assert dest.read_bytes() == half.data
    received = sum(line.down for line in peers(dan, "data.bin").values())
    assert received <= info.length - len(half.pieces) * info.piece_length, received


def test_no_room_for_a_download(make_users: MakeUsers, tmp_path: Path) -> None:
    """The file cannot be preallocated (larger than RLIMIT_FSIZE allows): download_file
    says so at once and leaves nothing behind; the client goes on working."""
    ann, dan = make_users("ann", "dan")
    big = write_random(tmp_path / "ann" / "big.bin", 8 * MiB, seed=72)
    small = write_random(tmp_path / "ann" / "small.bin", 1 * MiB, seed=73)
    for path in (tmp_path / "ann" / "big.bin", tmp_path / "ann" / "small.bin"):
        ann.ok(f"upload_file {quote(path)} lab")
    inbox = tmp_path / "dan"
    inbox.mkdir()
    dan.limit_file_size(4 * MiB)
    dan.fails(
        f"download_file lab big.bin {quote(inbox)}",
        rf"^error: cannot create .*big\.bin\.part: .*big\.bin\.part would be too large for "
        rf"this file system or limit \({len(big)} bytes\)$",
    )
    assert list(inbox.iterdir()) == []
    assert dan.ok("show_downloads") == ["no downloads"]
    dan.ok(f"download_file lab small.bin {quote(inbox)}")
    assert dan.ok("wait") == ["1 download(s) complete"]
    assert (inbox / "small.bin").read_bytes() == small
    dan.limit_file_size(None)
    dan.ok(f"download_file lab big.bin {quote(inbox)}")
    assert dan.ok("wait") == ["2 download(s) complete"]
    assert (inbox / "big.bin").read_bytes() == big
