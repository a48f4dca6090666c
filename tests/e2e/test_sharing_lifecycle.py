"""Sharing over time: logout and login, a client restart, stop_share, two
processes of one user, a killed peer leaving the peer lists, and how downloads show
in `show_downloads` while running, when complete and when failed."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.driver import Client, password_of
from minitorrent.metainfo import piece_length_for

from .sharing_helpers import (
    KiB,
    MiB,
    download_line,
    half_seed,
    list_files,
    own_peer_id,
    peers,
    quote,
    uploaded_bytes,
    wait_for,
    write_random,
)

MakeUsers = Callable[..., list[Client]]
MakeClient = Callable[..., Client]


def shared_names(client: Client) -> set[str]:
    return {line.split()[1] for line in client.ok("list_shares")[1:] if " sharing " in line}


def test_login_and_restart_share_again_and_stop_share_removes(
    make_users: MakeUsers, make_client: MakeClient, tmp_path: Path
) -> None:
    ann, bob, cat = make_users("ann", "bob", "cat")
    one = write_random(tmp_path / "ann" / "one.bin", 1 * MiB, seed=11)
    two = write_random(tmp_path / "ann" / "two.bin", 600 * KiB, seed=12)
    write_random(tmp_path / "ann" / "gone.bin", 10 * KiB, seed=13)
    for name in ("one.bin", "two.bin", "gone.bin"):
        ann.ok(f"upload_file {quote(tmp_path / 'ann' / name)} lab")

    # logout stops sharing (the files stay listed, with no peer)...
    ann.ok("logout")
    assert {n: r.peers for n, r in list_files(bob, "lab").items()} == {
        "gone.bin": 0,
        "one.bin": 0,
        "two.bin": 0,
    }
    # ... and login shares again what is still there, with a notice for the rest.
    (tmp_path / "ann" / "gone.bin").unlink()
    out = ann.ok(f"login ann {password_of('ann')}")
    assert "notice: no longer sharing [lab] gone.bin: it is gone" in out
    assert "sharing 2 file(s) again" in out
    assert {n: r.peers for n, r in list_files(bob, "lab").items()} == {"one.bin": 1, "two.bin": 1}
    (tmp_path / "bob").mkdir()
    bob.ok(f"download_file lab one.bin {quote(tmp_path / 'bob')}")
    bob.ok("wait")
    assert (tmp_path / "bob" / "one.bin").read_bytes() == one
    # What ann uploaded stays in her list_shares totals across a logout.
    ann.ok("logout")
    ann.ok(f"login ann {password_of('ann')}")
    assert uploaded_bytes(ann, "one.bin") == len(one)
    assert uploaded_bytes(ann, "two.bin") == 0

    # A crash and a new process on the same state directory: shares come back.
    ann.kill()
    ann = make_client(state="ann")
    assert "sharing 2 file(s) again" in ann.ok(f"login ann {password_of('ann')}")
    assert shared_names(ann) == {"one.bin", "two.bin"}
    ann_id = own_peer_id(ann)
    cat.ok(f"download_file lab two.bin {quote(tmp_path / 'cat-two.bin')}")
    cat.ok("wait")
    assert (tmp_path / "cat-two.bin").read_bytes() == two
    assert peers(cat, "two.bin")[ann_id].down >= len(two)

    # stop_share: ann stops both; one.bin is still shared by bob, two.bin by cat.
    ann.ok("stop_share lab one.bin")
    ann.ok("stop_share lab two.bin")
    assert shared_names(ann) == set()
    assert {n: r.peers for n, r in list_files(bob, "lab").items()} == {"one.bin": 1, "two.bin": 1}
    cat.ok("stop_share lab two.bin")  # nobody shares two.bin any more: it is gone
    assert set(list_files(bob, "lab")) == {"one.bin"}
    bob.fails(f"download_file lab two.bin {quote(tmp_path / 'bob')}", r"no such file")
    # and a later login does not share the stopped files again.
    ann.ok("logout")
    assert "again" not in " ".join(ann.ok(f"login ann {password_of('ann')}"))
    assert list_files(bob, "lab")["one.bin"].peers == 1


def test_two_processes_of_one_user_do_not_disturb_each_other(
    make_users: MakeUsers, make_client: MakeClient, tmp_path: Path
) -> None:
    ann, bob, cat = make_users("ann", "bob", "cat")
    served = write_random(tmp_path / "ann" / "served.bin", 3 * MiB, seed=21)
    other = write_random(tmp_path / "bob" / "other.bin", 2 * MiB, seed=22)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'served.bin')} lab")
    bob.ok(f"upload_file {quote(tmp_path / 'bob' / 'other.bin')} lab")
    seeder_id = own_peer_id(ann)
    start = len(ann.lines)
    ann.send("serve")
    ann.wait_for_line(r"^serving on ", start=start)

    # A script of the same user: logs in, downloads another file, logs out.
    script = make_client(state="ann")
    script.ok(f"login ann {password_of('ann')}")
    assert list_files(bob, "lab")["served.bin"].peers == 2  # both processes serve it
    script.ok(f"download_file lab other.bin {quote(tmp_path / 'other.bin')}")
    script.ok("wait")
    assert (tmp_path / "other.bin").read_bytes() == other
    script.ok("logout")
    assert script.quit() == 0

    # The seeder was not logged out with the script: it still serves.
    assert list_files(bob, "lab")["served.bin"].peers == 1
    cat.ok(f"download_file lab served.bin {quote(tmp_path / 'served.bin')}")
    cat.ok("wait")
    assert (tmp_path / "served.bin").read_bytes() == served
    assert peers(cat, "served.bin")[seeder_id].down >= len(served)

    ann.signal(signal.SIGTERM)
    assert ann.wait() == 0
    # What the two processes recorded is all there: both files are shared again.
    again = make_client(state="ann")
    assert "sharing 2 file(s) again" in again.ok(f"login ann {password_of('ann')}")


def test_second_process_leaves_a_running_download_alone(
    make_users: MakeUsers, make_client: MakeClient, tracker_info: Path, tmp_path: Path
) -> None:
    """Another process of the same user logs in while the first downloads a file: it
    must not resume (and so race) that download, nor start it again."""
    bob, ann = make_users("bob", "ann")
    src = tmp_path / "xavier" / "half.bin"
    half_seeded = half_seed(tracker_info, bob, src, 4 * MiB, seed=24)
    data, seed = half_seeded.data, half_seeded.peer
    dest = tmp_path / "half.bin"
    try:
        ann.ok(f"download_file lab half.bin {quote(dest)}")
        wait_for(lambda: "50.0%" in download_line(ann, "lab", "half.bin"), "half of half.bin")
        second = make_client(state="ann")
        assert second.ok(f"login ann {password_of('ann')}") == [
            "logged in as 'ann'",
            "notice: not resuming [lab] half.bin: another client process of this user is "
            "downloading it",
        ]
        second.fails(
            f"download_file lab half.bin {quote(dest)}",
            r"^error: 'half\.bin' is already being downloaded by another client process of 'ann'$",
        )
        bob.ok(f"upload_file {quote(src)} lab")  # the rest of the file arrives
        assert ann.ok("wait") == ["1 download(s) complete"]
    finally:
        seed.close()
    assert dest.read_bytes() == data
    assert second.ok("show_downloads") == ["no downloads"]


def test_leaving_or_being_removed_ends_the_shares_in_the_group(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    ann, bob, cat = make_users("ann", "bob", "cat")
    for user, client in (("bob", bob), ("cat", cat)):
        write_random(tmp_path / user / f"{user}.bin", 50 * KiB, seed=len(user))
        client.ok(f"upload_file {quote(tmp_path / user / f'{user}.bin')} lab")
    assert {n: r.peers for n, r in list_files(ann, "lab").items()} == {"bob.bin": 1, "cat.bin": 1}

    cat.ok("leave_group lab")
    assert cat.ok("list_shares") == ["not sharing any file"]
    assert set(list_files(ann, "lab")) == {"bob.bin"}  # nobody else shared cat.bin

    # bob's client learns it at its next announce (the tracker refuses it).
    start = len(bob.lines)
    ann.ok("remove_member lab bob")
    assert list_files(ann, "lab") == {}
    bob.wait_for_line(
        r"^notice: stopped sharing \[lab\] bob\.bin: (not a member of 'lab' any more|"
        r"'bob\.bin' is no longer shared in 'lab')$",
        start=start,
        timeout=10,
    )
    assert bob.ok("list_shares") == ["not sharing any file"]
    bob.ok("logout")
    assert bob.ok(f"login bob {password_of('bob')}") == ["logged in as 'bob'"]


@pytest.mark.slow
def test_killed_peer_drops_out_of_peer_lists(make_users: MakeUsers, tmp_path: Path) -> None:
    ann, bob, cat = make_users("ann", "bob", "cat")
    src = tmp_path / "f.bin"
    write_random(src, 100 * KiB, seed=31)
    ann.ok(f"upload_file {quote(src)} lab")
    bob.ok(f"upload_file {quote(src)} lab")
    assert list_files(cat, "lab")["f.bin"].peers == 2
    bob.kill()
    # Clients announce every 2 s here; a peer missing two announces is dropped.
    wait_for(lambda: list_files(cat, "lab")["f.bin"].peers == 1, "bob dropped", 2 * 2 + 5 + 5)


@pytest.mark.slow
def test_show_downloads_running_complete_and_failed(
    make_users: MakeUsers, make_client: MakeClient, tracker_info: Path, tmp_path: Path
) -> None:
    ann, bob, cat = make_users("ann", "bob", "cat")
    # cat gives up on a download after 3 s without a usable peer.
    cat.quit()
    cat = make_client("--no-peer-timeout", "3", state="cat")
    cat.ok(f"login cat {password_of('cat')}")

    # [D]: the only seed of partial.bin has its first half only.
    src = tmp_path / "xavier" / "partial.bin"
    half_seeded = half_seed(tracker_info, ann, src, 4 * MiB, seed=41)
    data, seed = half_seeded.data, half_seeded.peer
    try:
        bob.ok(f"download_file lab partial.bin {quote(tmp_path / 'partial.bin')}")
        wait_for(
            lambda: download_line(bob, "lab", "partial.bin").startswith(
                "[D] [lab] partial.bin 50.0% "
            ),
            "half of partial.bin",
        )
        line = download_line(bob, "lab", "partial.bin")
        assert re.fullmatch(
            r"\[D\] \[lab\] partial\.bin 50\.0% \d+(\.\d)? \S?i?B/s 1 peer( ETA .+)?", line
        )
        # Nothing more arrives: once the half is older than 5 s, 0 B/s and no ETA.
        wait_for(
            lambda: (
                download_line(bob, "lab", "partial.bin")
                == "[D] [lab] partial.bin 50.0% 0 B/s 1 peer"
            ),
            "the speed to fall to 0 with nothing arriving",
            timeout=20,
        )
    finally:
        seed.close()

    # [C]
    whole = write_random(tmp_path / "ann" / "whole.bin", 1 * MiB, seed=42)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'whole.bin')} lab")
    bob.ok(f"download_file lab whole.bin {quote(tmp_path / 'whole.bin')}")
    wait_for(lambda: download_line(bob, "lab", "whole.bin") == "[C] [lab] whole.bin", "[C]")
    assert (tmp_path / "whole.bin").read_bytes() == whole
    bob.ok("cancel_download lab partial.bin")
    assert bob.ok("show_downloads") == [
        "[F] [lab] partial.bin: cancelled",
        "[C] [lab] whole.bin",
    ]
    # The cancelled download resumes with its verified half once a full seed shows up.
    ann.ok(f"upload_file {quote(src)} lab")
    assert bob.ok(f"download_file lab partial.bin {quote(tmp_path / 'partial.bin')}") == [
        f"resuming 'partial.bin' from 'lab' to {tmp_path / 'partial.bin'}"
    ]
    bob.ok("wait")
    assert (tmp_path / "partial.bin").read_bytes() == data
    assert peers(bob, "partial.bin")[own_peer_id(ann)].down == len(data) // 2

    # [F]: the only seeder of lone.bin is gone (killed; the tracker still lists it).
    write_random(tmp_path / "ann" / "lone.bin", 1 * MiB, seed=43)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'lone.bin')} lab")
    ann.kill()
    cat.ok(f"download_file lab lone.bin {quote(tmp_path / 'lone.bin')}")
    n = -(-MiB // piece_length_for(MiB))  # every piece of lone.bin
    reason = rf"no peer has the missing pieces \({n} of {n} missing\) for 3 s"
    wait_for(
        lambda: re.fullmatch(
            rf"\[F\] \[lab\] lone\.bin: {reason}", download_line(cat, "lab", "lone.bin")
        ),
        "[F] lone.bin",
    )
    cat.fails("wait", rf"^error: 1 download\(s\) failed: lone\.bin: {reason}$")
    assert not (tmp_path / "lone.bin").exists()
