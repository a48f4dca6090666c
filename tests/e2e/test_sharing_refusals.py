"""Bad sharing commands: one `error:` line each, and nothing changed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from minitorrent.driver import Client

from .sharing_helpers import KiB, MiB, download_line, frozen, list_files, quote, write_random

MakeUsers = Callable[..., list[Client]]
ROOT = os.geteuid() == 0  # file permissions do not stop root: those checks need a user


def tree(path: Path) -> dict[str, bytes]:
    """Every file under `path` with its content."""
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def test_upload_refusals(
    make_users: MakeUsers, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    [eve] = make_users("eve", group="other")  # not a member of lab
    nobody = make_client()  # not logged in
    report = tmp_path / "ann" / "report.bin"
    write_random(report, 100 * KiB, seed=51)
    ann.ok(f"upload_file {quote(report)} lab")
    files_before = list_files(ann, "lab")
    shares_before = bob.ok("list_shares")

    home = tmp_path / "bob"
    write_random(home / "report.bin", 100 * KiB, seed=52)  # same name, other bytes
    (home / "a dir").mkdir()
    bob.fails(f"upload_file {quote(home / 'missing.bin')} lab", r"^error: no such file: .*missing")
    bob.fails(f"upload_file {quote(home / 'a dir')} lab", r"a dir is a directory, not a file$")
    bob.fails("upload_file /dev/null lab", r"/dev/null is not a regular file$")
    if not ROOT:
        locked = home / "locked.bin"
        write_random(locked, 10, seed=53)
        locked.chmod(0)
        bob.fails(
            f"upload_file {quote(locked)} lab", r"cannot read .*locked\.bin: permission denied"
        )
    bob.fails(
        f"upload_file {quote(home / 'report.bin')} lab",
        r"^error: a different file named 'report\.bin' is already shared in 'lab'$",
    )
    bob.fails(
        f"upload_file {quote(home / 'report.bin')} nosuchgroup", r"no such group 'nosuchgroup'"
    )
    eve.fails(f"upload_file {quote(report)} lab", r"^error: not a member of 'lab'$")
    nobody.fails(f"upload_file {quote(report)} lab", r"^error: not logged in")
    nobody.fails("list_files lab", r"^error: not logged in")
    eve.fails("list_files lab", r"^error: not a member of 'lab'$")

    assert list_files(ann, "lab") == files_before
    assert bob.ok("list_shares") == shares_before == ["not sharing any file"]


def test_download_refusals(
    make_users: MakeUsers, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    ann, bob = make_users("ann", "bob")
    [eve] = make_users("eve", group="other")
    nobody = make_client()
    report = tmp_path / "ann" / "report.bin"
    data = write_random(report, 8 * MiB, seed=54)
    ann.ok(f"upload_file {quote(report)} lab")

    home = tmp_path / "bob"
    inbox = home / "inbox"
    write_random(inbox / "existing.bin", 100, seed=55)
    write_random(inbox / "full" / "report.bin", 100, seed=56)  # a report.bin is there
    before = tree(home)
    bob.fails(
        f"download_file lab nosuch.bin {quote(inbox)}", r"no such file 'nosuch\.bin' in 'lab'"
    )
    bob.fails(f"download_file nosuchgroup report.bin {quote(inbox)}", r"no such group")
    eve.fails(f"download_file lab report.bin {quote(inbox)}", r"^error: not a member of 'lab'$")
    nobody.fails(f"download_file lab report.bin {quote(inbox)}", r"^error: not logged in")
    bob.fails(
        f"download_file lab report.bin {quote(inbox / 'existing.bin')}",
        r"existing\.bin already exists \(no overwrite\)$",
    )
    bob.fails(
        f"download_file lab report.bin {quote(inbox / 'full')}",
        r"full/report\.bin already exists \(no overwrite\)$",
    )
    bob.fails(
        f"download_file lab report.bin {quote(home / 'nowhere' / 'r.bin')}",
        r"directory .*nowhere does not exist$",
    )
    if not ROOT:
        (inbox / "full").chmod(0o555)
        bob.fails(
            f"download_file lab report.bin {quote(inbox / 'full' / 'r.bin')}",
            r"cannot write to .*full: permission denied$",
        )
        (inbox / "full").chmod(0o755)
    ann.fails(f"download_file lab report.bin {quote(inbox)}", r"you already have 'report\.bin'")
    assert tree(home) == before
    assert bob.ok("show_downloads") == ["no downloads"]

    # A second download of a file being downloaded (its only seeder frozen meanwhile).
    with frozen(ann):
        bob.ok(f"download_file lab report.bin {quote(inbox)}")
        bob.fails(
            f"download_file lab report.bin {quote(home / 'again.bin')}",
            r"^error: 'report\.bin' is already being downloaded$",
        )
        assert download_line(bob, "lab", "report.bin").startswith("[D] [lab] report.bin 0.0% ")
        assert not (home / "again.bin").exists() and not (home / "again.bin.part").exists()
    bob.ok("wait")
    assert (inbox / "report.bin").read_bytes() == data
    assert bob.ok("show_downloads") == ["[C] [lab] report.bin"]
