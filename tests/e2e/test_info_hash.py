"""The info-hash is a shared file's identity, end to end with real tracker and client
processes: upload_file names it, list_files shows it short (in full with --long or with
a name), and verify re-hashes a local copy against the piece hashes it binds."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from minitorrent.driver import Client
from minitorrent.folder import build_folder_info
from minitorrent.metainfo import build_info, piece_length_for

from .sharing_helpers import KiB, list_files, make_tree, quote, write_random

MakeUsers = Callable[..., list[Client]]
PIECE = piece_length_for(1536 * KiB)


def rot(path: Path, offset: int) -> None:
    """Flip one byte as a failing disk would: the modification time stays as it was."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_upload_file_answers_with_the_info_hash_and_list_files_shows_it(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    path = tmp_path / "data.bin"
    write_random(path, 1536 * KiB, seed=31)
    info_hash = build_info(path, "data.bin", "lab").info_hash_hex
    assert ann.ok(f"upload_file {quote(path)} lab") == [
        f"sharing 'data.bin' in 'lab' (1.5 MiB, info-hash {info_hash})"
    ]
    table = bob.ok("list_files lab")
    assert table[0].split() == ["name", "size", "info-hash", "peers"]
    assert list_files(bob, "lab")["data.bin"].info_hash == info_hash[:12]
    assert list_files(bob, "lab", long=True)["data.bin"].info_hash == info_hash
    assert bob.ok("list_files lab data.bin")[0] == f"info-hash {info_hash}"


def test_verify_says_ok_for_a_good_copy_and_names_the_bad_piece(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    path = tmp_path / "data.bin"
    write_random(path, 6 * PIECE - 1000, seed=32)
    ann.ok(f"upload_file {quote(path)} lab")
    assert ann.ok("verify lab data.bin") == [f"ok: {path} matches all 6 pieces of 'data.bin'"]

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    bob.ok(f"download_file lab data.bin {quote(inbox)}")
    assert bob.ok("wait", timeout=60) == ["1 download(s) complete"]
    copy = inbox / "data.bin"
    assert bob.ok("verify lab data.bin") == [f"ok: {copy} matches all 6 pieces of 'data.bin'"]

    rot(copy, 3 * PIECE + 17)
    bob.fails(
        "verify lab data.bin",
        "^error: "
        + re.escape(f"{copy}: 1 of 6 pieces do not match: piece 3 ")
        + re.escape(f"(bytes {3 * PIECE}-{4 * PIECE - 1})")
        + "$",
    )
    bob.fails(
        "verify lab other.bin",
        r"^error: you have no copy of 'other.bin' from 'lab' on this machine$",
    )


def test_verify_of_a_folder_names_the_files_of_a_bad_piece(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    [ann] = make_users("ann")
    src = tmp_path / "lectures"
    make_tree(src)
    info = build_folder_info(src, "lectures", "lab")[0]
    ann.ok(f"upload_file {quote(src)} lab")
    pieces = info.num_pieces
    assert ann.ok("verify lab lectures/") == [
        f"ok: {src} matches all {pieces} pieces of 'lectures'"
    ]
    rot(src / "a" / "02 big.bin", 0)  # the folder's files back to back: after 00 and 01
    first = info.files[0].length + info.files[1].length  # where 02 big.bin starts
    index = first // info.piece_length
    end = min((index + 1) * info.piece_length, info.length) - 1
    ann.fails(
        "verify lab lectures",
        "^error: "
        + re.escape(f"{src}: 1 of {pieces} pieces do not match: piece {index} ")
        + re.escape(f"(bytes {index * info.piece_length}-{end} in ")
        + r".*a/02 big\.bin.*\)$",
    )
