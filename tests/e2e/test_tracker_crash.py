"""The tracker killed (SIGKILL) during uploads, downloads and group operations, then
restarted on the same database: nothing it had committed is lost, clients carry
on by themselves, and a download between peers that know each other goes on meanwhile."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from minitorrent.driver import Client, Tracker

from ..load.helpers import result_of, start_loadgen
from .sharing_helpers import (
    MiB,
    download_line,
    frozen,
    list_files,
    own_peer_id,
    peers,
    quote,
    tracker_port,
    wait_for,
    write_random,
)

# What each kind of journal record (tests/load/loadgen.py, mode grow) must match.
CHECKS = {
    "user": "SELECT 1 FROM users WHERE id = ?",
    "member": "SELECT 1 FROM memberships WHERE group_id = ? AND user_id = ?",
    "file": "SELECT 1 FROM files WHERE info_hash = ?",
}


def journal(path: Path) -> list[list[str]]:
    """The writes the load generator saw committed (a 2xx answer), in order."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def lost(tracker_db: Path, records: list[list[str]]) -> list[list[str]]:
    """The records the tracker's database does not hold."""
    with closing(sqlite3.connect(f"file:{tracker_db}?mode=ro", uri=True)) as db:
        return [r for r in records if db.execute(CHECKS[r[0]], r[1:]).fetchone() is None]


def test_tracker_killed_and_restarted(
    tracker: Tracker,
    start_tracker: Callable[..., Tracker],
    make_users: Callable[..., list[Client]],
    tracker_info: Path,
    tracker_db: Path,
    tmp_path: Path,
) -> None:
    ann, bob, cat = make_users("ann", "bob", "cat")
    big = write_random(tmp_path / "ann" / "big.bin", 96 * MiB, seed=81)
    ann.ok(f"upload_file {quote(tmp_path / 'ann' / 'big.bin')} lab")
    notes = write_random(tmp_path / "cat" / "notes.bin", 1 * MiB, seed=82)
    # Twenty users creating users, groups, memberships and files, all along.
    writes = tmp_path / "journal.txt"
    gen = start_loadgen(
        "grow", tracker_port(tracker_info), "--users", "20", "--rate", "20",
        "--duration", "20", "--warmup", "0", "--journal", str(writes),
    )  # fmt: skip
    try:
        wait_for(lambda: len(journal(writes)) >= 40, "writes before the crash")
        bob.ok(f"download_file lab big.bin {quote(tmp_path / 'bob.bin')}")
        wait_for(lambda: peers(bob, "big.bin").get(own_peer_id(ann)), "data from ann")
        with frozen(ann):  # the download is mid-way while the tracker dies
            assert download_line(bob, "lab", "big.bin").startswith("[D] "), "use a larger file"
            upload = cat.submit(f"upload_file {quote(tmp_path / 'cat' / 'notes.bin')} lab")
            tracker.kill()
        # No tracker: the download goes on between the peers that know each other...
        assert bob.ok("wait", timeout=120) == ["1 download(s) complete"]
        assert (tmp_path / "bob.bin").read_bytes() == big
        # ... and what needs the tracker fails with a clear message, not a hang.
        uploaded = upload(60)
        bob.fails("list_groups", r"no tracker answered")
        before = len(journal(writes))

        start_tracker()
        wait_for(lambda: len(journal(writes)) >= before + 20, "writes after the restart")
        result = result_of(gen, timeout=60)
    finally:
        gen.kill()
    assert result["failed"], "the load generator saw no outage"
    with closing(sqlite3.connect(f"file:{tracker_db}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert lost(tracker_db, journal(writes)) == []

    # The clients carry on without being told: same sessions (no new login), and Bob's
    # announces, retried with backoff, make him a seeder of what he got meanwhile.
    wait_for(lambda: list_files(ann, "lab")["big.bin"].peers == 2, "bob seeding big.bin")
    assert bob.ok("show_downloads") == ["[C] [lab] big.bin"]
    if any(line.startswith("error:") for line in uploaded):  # killed before it committed
        assert any("tracker" in line for line in uploaded), uploaded
        cat.ok(f"upload_file {quote(tmp_path / 'cat' / 'notes.bin')} lab")
    assert list_files(bob, "lab")["notes.bin"].peers == 1
    bob.ok(f"download_file lab notes.bin {quote(tmp_path / 'bob-notes.bin')}")
    assert bob.ok("wait") == ["2 download(s) complete"]
    assert (tmp_path / "bob-notes.bin").read_bytes() == notes
