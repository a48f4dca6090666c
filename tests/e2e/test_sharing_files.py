"""Files of every awkward shape go through a real swarm unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from minitorrent.driver import Client
from minitorrent.metainfo import build_info, piece_length_for

from .sharing_helpers import (
    download_line,
    list_files,
    own_peer_id,
    peers,
    quote,
    write_random,
)

MakeUsers = Callable[..., list[Client]]


def test_sizes_names_and_relative_paths(
    make_users: MakeUsers, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    piece = piece_length_for(1 << 20)
    assert piece == 64 * 1024
    sizes = {
        "empty.bin": 0,
        "one.bin": 1,
        "piece-1.bin": piece - 1,
        "piece.bin": piece,
        "piece+1.bin": piece + 1,
        "my notes v2.txt": 3000,  # spaces in the name
    }
    ann_home, bob_home = tmp_path / "ann", tmp_path / "bob"
    data = {
        name: write_random(ann_home / "files" / name, size, seed=size)
        for name, size in sizes.items()
    }
    # A text file shared by a path relative to the client's working directory.
    text = "".join(f"line {i}: plain text\n" for i in range(500)).encode()
    (ann_home / "docs").mkdir()
    (ann_home / "docs" / "readme.txt").write_bytes(text)
    data["readme.txt"] = text
    bob_home.mkdir()
    (bob_home / "inbox").mkdir()

    for client in make_users("ann", "bob"):
        assert client.quit() == 0
    # ann and bob again, each working in their own directory.
    ann = make_client(state="ann", cwd=ann_home)
    ann.ok("login ann ann-password")
    bob = make_client(state="bob", cwd=bob_home)
    bob.ok("login bob bob-password")

    for name in sizes:
        ann.ok(f"upload_file {quote('files/' + name)} lab")
    ann.ok("upload_file docs/readme.txt lab")
    listed = list_files(bob, "lab")
    assert {name: row.info_hash for name, row in listed.items()} == {
        name: build_info(path, name, "lab").info_hash_hex[:12]
        for name in data
        for path in [ann_home / ("docs" if name == "readme.txt" else "files") / name]
    }
    assert listed["empty.bin"].size == "0 B" and listed["one.bin"].size == "1 B"
    assert all(row.peers == 1 for row in listed.values())

    # An existing directory (absolute or relative) means <dir>/<file name>; any other
    # path, relative to the working directory too, is the file to write.
    targets = {
        "empty.bin": ("inbox", bob_home / "inbox" / "empty.bin"),
        "one.bin": (str(bob_home / "inbox"), bob_home / "inbox" / "one.bin"),
        "piece-1.bin": ("a.bin", bob_home / "a.bin"),
        "piece.bin": ("inbox/b.bin", bob_home / "inbox" / "b.bin"),
        "piece+1.bin": (str(bob_home / "c.bin"), bob_home / "c.bin"),
        "my notes v2.txt": (".", bob_home / "my notes v2.txt"),
        "readme.txt": ("inbox/read me.txt", bob_home / "inbox" / "read me.txt"),
    }
    for name, (destination, _) in targets.items():
        bob.ok(f"download_file lab {quote(name)} {quote(destination)}")
    assert bob.ok("wait", timeout=60) == [f"{len(targets)} download(s) complete"]

    for name, (_, path) in targets.items():
        assert path.read_bytes() == data[name], name
        assert download_line(bob, "lab", name) == f"[C] [lab] {name}"
    leftovers = sorted(p.name for p in bob_home.rglob("*.part"))
    assert leftovers == []
    # bob now shares every one of them too.
    assert all(row.peers == 2 for row in list_files(ann, "lab").values())


def test_same_content_in_two_groups_makes_two_swarms(make_users: MakeUsers, tmp_path: Path) -> None:
    ann, bob = make_users("ann", "bob", group="lab")
    [cat] = make_users("cat", group="lab2")
    ann.ok("join_group lab2")  # ann is in both groups
    cat.ok("accept_request lab2 ann")

    src = tmp_path / "ann" / "both.bin"
    data = write_random(src, 2 * 1024 * 1024, seed=61)
    ann.ok(f"upload_file {quote(src)} lab")
    ann.ok(f"upload_file {quote(src)} lab2")
    bob.ok(f"download_file lab both.bin {quote(tmp_path / 'bob.bin')}")
    bob.ok("wait")
    assert list_files(ann, "lab")["both.bin"].peers == 2
    assert list_files(ann, "lab2")["both.bin"].peers == 1  # bob seeds in lab only
    cat.ok(f"download_file lab2 both.bin {quote(tmp_path / 'cat.bin')}")
    cat.ok("wait")
    assert (tmp_path / "bob.bin").read_bytes() == data == (tmp_path / "cat.bin").read_bytes()
    assert set(peers(cat, "both.bin")) == {own_peer_id(ann)}  # never bob, from lab
    bob.fails(f"download_file lab2 both.bin {quote(tmp_path / 'x.bin')}", r"not a member")
