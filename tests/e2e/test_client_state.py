"""The client's state on disk, with real tracker and client processes: it is private,
a stopped download stays stopped across logins and restarts, a destination ending in /
must be a directory, and a damaged or unusable state file is told about, never a
traceback nor a tracker session left open."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from minitorrent.client.state import SCHEMA
from minitorrent.driver import Client, password_of
from minitorrent.metainfo import build_info

from .sharing_helpers import (
    KiB,
    MiB,
    download_line,
    half_seed,
    list_files,
    own_peer_id,
    peers,
    quote,
    wait_for,
    write_random,
)

MakeUsers = Callable[..., list[Client]]
MakeClient = Callable[..., Client]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def state_db(tmp_path: Path, user_id: str) -> Path:
    """The state file of `user_id` in the state directory named after it (make_users)."""
    return tmp_path / "state" / user_id / "users" / user_id / "state.db"


def test_state_files_are_private_even_if_an_older_version_left_them_open(
    make_client: MakeClient, tmp_path: Path
) -> None:
    db = state_db(tmp_path, "alice")
    db.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db)) as old:  # as an older version left it: 0644 in 0755
        old.executescript(SCHEMA)
    folders = [db.parents[2], db.parents[1], db.parent]
    for path in [*folders, db]:
        path.chmod(0o755 if path.is_dir() else 0o644)

    alice = make_client(state="alice")
    alice.ok(f"create_user alice {password_of('alice')}")
    alice.ok(f"login alice {password_of('alice')}")
    assert [mode(folder) for folder in folders] == [0o700] * 3
    files = [db.with_name(f"state.db{suffix}") for suffix in ("", "-wal", "-shm")]
    assert [mode(f) for f in files] == [0o600] * 3  # logged in: SQLite's -wal and -shm exist


def test_cancelled_or_failed_download_stays_stopped_until_asked_again(
    make_users: MakeUsers, make_client: MakeClient, tracker_info: Path, tmp_path: Path
) -> None:
    """Bob cancels partial.bin at half; Cat's download of it fails (its only seed went
    away). Neither starts again at the next login nor in a new process; download_file
    again resumes each from its verified half and completes."""
    cat_options = ("--no-peer-timeout", "3")  # Cat gives up after 3 s without a peer
    ann, bob = make_users("ann", "bob")
    cat = make_client(*cat_options, state="cat")
    for command in (f"create_user cat {password_of('cat')}", f"login cat {password_of('cat')}"):
        cat.ok(command)
    cat.ok("join_group lab")
    ann.ok("accept_request lab cat")

    src = tmp_path / "xavier" / "partial.bin"
    half_seeded = half_seed(tracker_info, ann, src, 4 * MiB, seed=71)
    data, info, half = half_seeded.data, half_seeded.info, half_seeded.pieces
    dest = {name: tmp_path / name / "partial.bin" for name in ("bob", "cat")}

    def at_half(client: Client) -> bool:
        return download_line(client, "lab", "partial.bin").startswith(
            "[D] [lab] partial.bin 50.0% "
        )

    try:
        for name, client in (("bob", bob), ("cat", cat)):
            dest[name].parent.mkdir()
            client.ok(f"download_file lab partial.bin {quote(dest[name])}")
        wait_for(lambda: at_half(bob) and at_half(cat), "half of partial.bin")
    finally:
        half_seeded.peer.close()
    bob.ok("cancel_download lab partial.bin")
    missing = info.num_pieces - len(half)
    stopped = {
        "bob": "[F] [lab] partial.bin: cancelled",
        "cat": f"[F] [lab] partial.bin: no peer has the missing pieces ({missing} of "
        f"{info.num_pieces} missing) for 3 s",
    }
    wait_for(lambda: download_line(cat, "lab", "partial.bin") == stopped["cat"], "cat's [F]")

    def still_stopped(name: str, client: Client) -> None:
        out = client.ok(f"login {name} {password_of(name)}")
        assert not [line for line in out if "partial.bin" in line], out
        assert download_line(client, "lab", "partial.bin") == stopped[name]
        assert peers(client, "partial.bin") == {}  # no transfer, so no traffic

    clients = {"bob": bob, "cat": cat}
    for name, client in clients.items():
        client.ok("logout")
        still_stopped(name, client)
    for name, options in (("bob", ()), ("cat", cat_options)):
        clients[name].quit()
        clients[name] = make_client(*options, state=name)
        still_stopped(name, clients[name])

    ann.ok(f"upload_file {quote(src)} lab")  # a full seed: the rest can come now
    ann_peer = own_peer_id(ann)
    for name, client in clients.items():  # one at a time: Ann is the only source
        assert client.ok(f"download_file lab partial.bin {quote(dest[name])}") == [
            f"resuming 'partial.bin' from 'lab' to {dest[name]}"
        ]
        assert client.ok("wait", timeout=60) == ["1 download(s) complete"]
        assert dest[name].read_bytes() == data
        assert download_line(client, "lab", "partial.bin") == "[C] [lab] partial.bin"
        # The verified half was kept: only the missing pieces came.
        assert {peer: line.down for peer, line in peers(client, "partial.bin").items()} == {
            ann_peer: info.length - len(half) * info.piece_length
        }
        client.quit()


def test_a_destination_ending_in_a_slash_must_be_a_directory(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    write_random(tmp_path / "ann" / "notes.txt", 10 * KiB, seed=72)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'notes.txt')} lab")
    parent = tmp_path / "x"
    parent.mkdir()
    bob.fails(
        f"download_file lab notes.txt {quote(str(parent / 'nodir') + '/')}",
        rf"^error: directory {re.escape(str(parent / 'nodir'))} does not exist$",
    )
    assert list(parent.iterdir()) == []
    assert bob.ok("show_downloads") == ["no downloads"]


@pytest.mark.parametrize("how", ["directory", "newer"])
def test_an_unusable_state_file_ends_the_login_with_one_error(
    how: str, make_client: MakeClient, live_sessions: Callable[[str], int], tmp_path: Path
) -> None:
    dan = make_client(state="dan")
    dan.ok(f"create_user dan {password_of('dan')}")
    db = state_db(tmp_path, "dan")
    db.parent.mkdir(parents=True)
    if how == "directory":
        db.mkdir()
        reason = "Is a directory"
    else:
        with closing(sqlite3.connect(db)) as newer:
            newer.execute("PRAGMA user_version = 99")
        reason = "it was written by a newer version of minitorrent"
    dan.fails(
        f"login dan {password_of('dan')}",
        rf"^error: cannot use the state file {re.escape(str(db))}: {reason}.*; logged out",
    )
    assert live_sessions("dan") == 0  # the tracker session was closed
    dan.fails("list_groups", "^error: not logged in")
    db.rename(db.with_name("state.db.aside"))  # what the error suggests
    assert dan.ok(f"login dan {password_of('dan')}") == ["logged in as 'dan'"]
    assert live_sessions("dan") == 1


def test_a_damaged_record_is_dropped_with_a_notice_and_the_rest_carry_on(
    make_users: MakeUsers, make_client: MakeClient, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    data = {}
    for seed, name in enumerate(("a.bin", "b.bin", "c.bin")):
        data[name] = write_random(tmp_path / "ann" / name, 300 * KiB, seed=73 + seed)
        ann.ok(f"upload_file {quote(tmp_path / 'ann' / name)} lab")
    ann.quit()
    with closing(sqlite3.connect(state_db(tmp_path, "ann"))) as db:  # a stray write or two
        db.execute("UPDATE shares SET info = ? WHERE name = 'b.bin'", (b"junk",))
        db.execute(
            "INSERT INTO downloads (info_hash, group_id, name, destination, part_path, info)"
            " VALUES ('not hex', 'lab', 'd.bin', '/d.bin', '/d.bin.part', x'00')"
        )
        db.commit()

    ann = make_client(state="ann")
    out = ann.ok(f"login ann {password_of('ann')}")
    assert [line for line in out if line.startswith("notice:")] == [
        "notice: dropped a damaged share record of the state file ([lab] b.bin): the info "
        "dictionary is not valid bencoding; upload_file it again to share it",
        "notice: dropped a damaged download record of the state file ([lab] d.bin): the info "
        "dictionary is not valid bencoding; download_file it again (its .part is re-checked)",
    ]
    assert "sharing 2 file(s) again" in out
    for name in ("a.bin", "c.bin"):
        bob.ok(f"download_file lab {name} {quote(tmp_path / name)}")
    assert bob.ok("wait", timeout=60) == ["2 download(s) complete"]
    assert all((tmp_path / name).read_bytes() == data[name] for name in ("a.bin", "c.bin"))
    # Dropped for good: the next login has nothing more to say about them.
    ann.ok("logout")
    assert ann.ok(f"login ann {password_of('ann')}") == [
        "logged in as 'ann'",
        "sharing 2 file(s) again",
    ]


def test_a_state_file_of_the_previous_version_shares_again_under_the_info_hash(
    make_users: MakeUsers, make_client: MakeClient, tmp_path: Path
) -> None:
    """A state file written before the whole-file SHA1 went (its records carry one) still
    shares its files again at login, and the group lists them by their info-hash."""
    ann, bob = make_users("ann", "bob")
    path = tmp_path / "old.bin"
    data = write_random(path, 700 * KiB, seed=41)
    ann.ok(f"upload_file {quote(path)} lab")
    ann.quit()
    info = build_info(path, "old.bin", "lab")
    st = path.stat()
    with closing(sqlite3.connect(state_db(tmp_path, "ann"))) as db:  # the previous layout
        db.executescript("DROP TABLE shares; DROP TABLE downloads;" + SCHEMA)
        db.execute("ALTER TABLE downloads ADD COLUMN stopped TEXT")
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO shares VALUES (?,?,?,?,?,?,?,?,?)",
            (
                info.info_hash_hex,
                "lab",
                "old.bin",
                str(path),
                st.st_size,
                st.st_mtime_ns,
                hashlib.sha1(data).hexdigest(),
                info.encode(),
                0,
            ),
        )
        db.commit()
    ann = make_client(state="ann")
    assert "sharing 1 file(s) again" in ann.ok(f"login ann {password_of('ann')}")
    assert list_files(bob, "lab")["old.bin"].info_hash == info.info_hash_hex[:12]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    bob.ok(f"download_file lab old.bin {quote(inbox)}")
    assert bob.ok("wait", timeout=60) == ["1 download(s) complete"]
    assert (inbox / "old.bin").read_bytes() == data
