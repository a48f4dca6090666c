"""Sharing a folder as one item, end to end with real tracker and client processes:
two members share a tree, a third downloads it byte for byte; a download killed with
SIGKILL resumes at the next login; a hostile file list slipped into the tracker's
database is refused by the client before anything is written."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from fastbencode import bdecode, bencode  # type: ignore[attr-defined]

from minitorrent.driver import Client, password_of
from minitorrent.folder import build_folder_info

from .sharing_helpers import (
    KiB,
    MiB,
    download_line,
    frozen,
    make_tree,
    peers,
    quote,
    tree_hash,
    wait_for,
    write_random,
)

MakeUsers = Callable[..., list[Client]]


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_folder_shared_by_two_is_downloaded_byte_for_byte(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    ann, ben, cat = make_users("ann", "ben", "cat")
    src = tmp_path / "seed" / "lectures"
    make_tree(src)
    info_hash = build_folder_info(src, "lectures", "lab")[0].info_hash_hex
    for seeder in (ann, ben):
        assert seeder.ok(f"upload_file {quote(src)} lab") == [
            "notice: skipped 1 entry that is not a regular file (links, devices, sockets) "
            "and 1 empty folder (a shared folder holds its files only)",
            f"sharing 'lectures/' in 'lab' (47 files, 4.1 MiB, info-hash {info_hash})",
        ]
    listing = cat.ok("list_files lab")
    row = ["lectures/", "47", "files", "4.1", "MiB", info_hash[:12], "2"]
    assert any(line.split() == row for line in listing), listing
    contents = cat.ok("list_files lab lectures")
    assert contents[0] == f"info-hash {info_hash}"
    assert any(line.split() == ["a/02", "big.bin", "3.0", "MiB"] for line in contents), contents
    assert any("b c/é ü straße.txt" in line for line in contents), contents

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cat.ok(f"download_file lab lectures {quote(inbox)}")
    assert cat.ok("wait", timeout=120) == ["1 download(s) complete"]
    got = inbox / "lectures"
    assert tree_hash(got) == tree_hash(src)
    assert (got / "a" / "01 empty at a boundary").stat().st_size == 0
    assert not (inbox / "lectures.part").exists()
    folder_mode = 0o777 & ~current_umask()
    for folder in [got, *(p for p in got.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(folder.stat().st_mode) == folder_mode, folder
    assert download_line(cat, "lab", "lectures") == "[C] [lab] lectures"

    cat.fails(
        f"download_file lab lectures {quote(inbox)}",
        r"^error: you already have 'lectures' \(.*\)$",
    )


def _saved_pieces(state_db: Path) -> int:
    if not state_db.exists():
        return 0
    with closing(sqlite3.connect(f"file:{state_db}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT have FROM downloads").fetchall()
    return sum(sum(have) for (have,) in rows)


def test_a_folder_download_killed_resumes_at_login(
    make_users: MakeUsers, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    ann, dan = make_users("ann", "dan")
    src = tmp_path / "seed" / "data set"
    make_tree(src, big=96 * MiB)
    ann.ok(f"upload_file {quote(src)} lab")
    dest = tmp_path / "mine"  # does not exist: becomes the folder itself
    dan.ok(f"download_file lab {quote('data set')} {quote(dest)}")
    state_db = tmp_path / "state" / "dan" / "users" / "dan" / "state.db"
    # Ann stops answering once dan has data, so that he saves progress, not completes.
    wait_for(lambda: any(p.down > 0 for p in peers(dan).values()), "data for dan")
    with frozen(ann):
        assert not dest.exists(), "the download ended before the kill; use a larger tree"
        wait_for(lambda: _saved_pieces(state_db) > 0, "dan's first verified pieces saved")
        dan.kill()
    assert (tmp_path / "mine.part").is_dir()

    dan = make_client(state="dan")
    out = dan.ok(f"login dan {password_of('dan')}")
    assert any(line.startswith("resuming [lab] data set (") for line in out), out
    assert dan.ok("wait", timeout=120) == ["1 download(s) complete"]
    assert tree_hash(dest) == tree_hash(src)
    assert not (tmp_path / "mine.part").exists()


def _hostile(info: bytes, path: list[bytes]) -> bytes:
    """The same info dict with the path of its first file replaced."""
    d = bdecode(info)
    d[b"files"][0][b"path"] = path
    return bytes(bencode(d))


def test_a_hostile_file_list_slipped_past_the_tracker_is_refused(
    make_users: MakeUsers, tracker_db: Path, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    src = tmp_path / "seed" / "notes"
    write_random(src / "a.txt", 10 * KiB, seed=1)
    write_random(src / "b.txt", 10 * KiB, seed=2)
    ann.ok(f"upload_file {quote(src)} lab")
    with closing(sqlite3.connect(tracker_db)) as db:
        (info,) = db.execute("SELECT info FROM files WHERE name = 'notes'").fetchone()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cases = [
        ([b"..", b"..", b"escaped.txt"], r"'\.\.' is not a file name"),
        ([b"/tmp/abs.txt"], r"contains a path separator"),
        ([b"B.TXT"], r"two files in the folder are both named 'b\.txt'"),
        ([b"b.txt", b"under"], r"'b\.txt' is a file and also a folder of other files"),
        (["x\u202etxt.exe".encode()], r"U\+202E"),
    ]
    for path, refusal in cases:
        with closing(sqlite3.connect(tracker_db)) as db, db:
            db.execute("UPDATE files SET info = ? WHERE name = 'notes'", (_hostile(info, path),))
        bob.fails(f"download_file lab notes {quote(inbox)}", f"^error: .*{refusal}")
        bob.fails(f"export_torrent lab notes {quote(tmp_path / 'x.torrent')}", refusal)
    assert list(inbox.iterdir()) == [] and not (tmp_path / "x.torrent").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_a_shared_folder_is_shared_again_at_login_until_it_changes(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    src = tmp_path / "seed" / "notes"
    write_random(src / "week 1" / "a.txt", 300 * KiB, seed=1)
    write_random(src / "b.txt", 10 * KiB, seed=2)
    ann.ok(f"upload_file {quote(src)} lab")
    ann.ok("logout")
    assert ann.ok(f"login ann {password_of('ann')}")[-1] == "sharing 1 file(s) again"
    magnet = ann.ok("magnet lab notes")[0]
    assert "&dn=notes&xl=317440&" in magnet
    # Same size, other bytes: found by re-hashing, since its modification time moved.
    write_random(src / "week 1" / "a.txt", 300 * KiB, seed=99)
    ann.ok("logout")
    assert ann.ok(f"login ann {password_of('ann')}")[1:] == [
        "notice: no longer sharing [lab] notes: its content changed"
    ]
    wait_for(lambda: bob.ok("list_files lab") == ["no files shared"], "notes withdrawn")
    ann.ok(f"upload_file {quote(src)} lab")
    assert ann.ok("stop_share lab notes") == ["stopped sharing 'notes' in 'lab'"]
    assert bob.ok("list_files lab") == ["no files shared"]


def test_a_folder_download_is_shown_cancelled_and_started_again(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    src = tmp_path / "seed" / "tree"
    make_tree(src)
    ann.ok(f"upload_file {quote(src)} lab")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with frozen(ann):  # no data yet: the download stays at 0%
        bob.ok(f"download_file lab tree {quote(inbox)}")
        assert download_line(bob, "lab", "tree").startswith("[D] [lab] tree 0.0% ")
        assert bob.ok("cancel_download lab tree") == [
            "cancelled 'tree' (verified pieces kept for a later download_file)"
        ]
        assert download_line(bob, "lab", "tree") == "[F] [lab] tree: cancelled"
        wait_for(lambda: not (inbox / "tree.part").exists(), "the empty .part folder removed")
    bob.ok(f"download_file lab tree {quote(inbox)}")
    assert bob.ok("wait", timeout=120) == ["1 download(s) complete"]
    assert tree_hash(inbox / "tree") == tree_hash(src)
    assert list(inbox.iterdir()) == [inbox / "tree"]
