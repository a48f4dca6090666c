"""What a download may do to the downloader's disk: claim space only as data arrives,
leave nothing behind when it ends without a verified piece, and never finish a .part
another user planted or can change."""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minitorrent.driver import Client, wait_until
from minitorrent.metainfo import InfoDict

from .sharing_helpers import KiB, MiB, download_line, member, quote, write_random

MakeUsers = Callable[..., list[Client]]
GiB = 1024 * MiB


def _register_unseeded(tracker_info: Path, admin: Client, size: int) -> None:
    """mal, a member, registers a huge file's metadata and never seeds it."""
    mal = member(tracker_info, admin, "mal")
    piece_length = 4 * MiB
    pieces = bytes(20 * (-(-size // piece_length)))
    info = InfoDict("huge.bin", size, piece_length, pieces, "lab")
    body = {"info": base64.b64encode(info.encode()).decode(), "sha1": "0" * 40}
    mal.http.post("/groups/lab/files", json=body).raise_for_status()
    mal.close()


def _held_bytes(path: Path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.mark.parametrize("ending", ["fails", "cancelled"])
def test_a_download_nobody_seeds_holds_no_space_and_leaves_nothing(
    ending: str, make_users: MakeUsers, tracker_info: Path, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob", extra=("--no-peer-timeout", "3"))
    _register_unseeded(tracker_info, ann, 2 * GiB)
    home = tmp_path / "bob"
    home.mkdir()
    part = home / "huge.bin.part"
    bob.ok(f"download_file lab huge.bin {quote(home)}")
    assert part.exists() and _held_bytes(part) < MiB  # sparse: the 2 GiB are not held
    if ending == "cancelled":
        bob.ok("cancel_download lab huge.bin")
    else:
        wait_until(
            lambda: download_line(bob, "lab", "huge.bin").startswith("[F]"), 30, "the failure"
        )
    wait_until(lambda: not part.exists(), 10, "the empty .part to be removed")
    assert list(home.iterdir()) == []


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    """Clients started inside inherit this umask."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    """A directory every local user may write to, like /tmp."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    return shared


def test_a_part_others_can_write_or_another_user_owns_is_never_adopted(
    make_users: MakeUsers, shared_dir: Path, tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    data = write_random(tmp_path / "ann" / "notes.bin", 300 * KiB, seed=8)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'notes.bin')} lab")
    # Planted by someone else: the right size, the right data even (it would pass every
    # hash check), but writable by everyone: they could change it once it is finished.
    part = shared_dir / "notes.bin.part"
    part.write_bytes(data)
    part.chmod(0o666)
    bob.fails(
        f"download_file lab notes.bin {quote(shared_dir)}",
        rf"^error: {part} is writable by other users; not using it",
    )
    if os.geteuid() == 0:  # as root, another user's file is one chown away
        part.chmod(0o644)
        os.chown(part, 4242, 4242)
        bob.fails(
            f"download_file lab notes.bin {quote(shared_dir)}",
            rf"^error: {part} belongs to another user; not using it",
        )
    assert not (shared_dir / "notes.bin").exists()
    assert part.read_bytes() == data  # left as it was
    part.unlink()
    bob.ok(f"download_file lab notes.bin {quote(shared_dir)}")
    bob.ok("wait", timeout=60)
    assert (shared_dir / "notes.bin").read_bytes() == data


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_downloaded_files_get_the_users_umask(
    umask: int, mode: int, make_users: MakeUsers, tmp_path: Path
) -> None:
    [ann] = make_users("ann")
    data = write_random(tmp_path / "ann" / "notes.bin", 300 * KiB, seed=9)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'notes.bin')} lab")
    with _umask(umask):
        [bob] = make_users("bob", group=None)
    bob.ok("join_group lab")
    ann.ok("accept_request lab bob")
    home = tmp_path / "bob"
    home.mkdir()
    bob.ok(f"download_file lab notes.bin {quote(home)}")
    bob.ok("wait", timeout=60)
    assert (home / "notes.bin").read_bytes() == data
    assert (home / "notes.bin").stat().st_mode & 0o777 == mode
