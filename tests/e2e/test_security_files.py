"""Downloads never write outside the destination the user gave, nor through symlinks,
nor over an existing file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from minitorrent.driver import Client

from .sharing_helpers import KiB, quote, write_random


def test_symlinked_or_occupied_destinations_are_refused(
    make_users: Callable[..., list[Client]], tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    data = write_random(tmp_path / "ann" / "notes.bin", 40 * KiB, seed=7)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'notes.bin')} lab")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "bob"
    home.mkdir()
    (home / "link").symlink_to(elsewhere)
    (home / "notes.bin").symlink_to(elsewhere / "notes.bin")
    bob.fails(f"download_file lab notes.bin {quote(home / 'link')}", r"is a symbolic link")
    bob.fails(f"download_file lab notes.bin {quote(home)}", r"is a symbolic link")
    (home / "notes.bin").unlink()
    (home / "notes.bin").write_bytes(b"bob's own notes")
    bob.fails(f"download_file lab notes.bin {quote(home)}", r"already exists \(no overwrite\)")
    assert list(elsewhere.iterdir()) == []
    assert (home / "notes.bin").read_bytes() == b"bob's own notes"
    # The same download to a real, free place works.
    bob.ok(f"download_file lab notes.bin {quote(home / 'copy.bin')}")
    bob.ok("wait")
    assert (home / "copy.bin").read_bytes() == data
