"""`group_log <group_id>` in the shell: the tracker's activity log of a group."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from minitorrent.driver import Client


def _lines(output: list[str]) -> list[str]:
    """The log's sentences, oldest first (the table's rows are newest first)."""
    assert output[0].split() == ["when", "(UTC)", "what"], output
    rows = [row for row in output[1:] if not set(row) <= set("- ")]
    return [re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+", "", row) for row in reversed(rows)]


def test_the_shell_shows_who_did_what(
    make_users: Callable[..., list[Client]], tmp_path: Path
) -> None:
    alice, bob, carol = make_users("alice", "bob", "carol", group=None)
    alice.ok("create_group lab")
    bob.ok("join_group lab")
    carol.ok("join_group lab")
    alice.ok("accept_request lab bob")
    alice.ok("reject_request lab carol")
    carol.fails("group_log lab", r"not a member of 'lab'")
    data = tmp_path / "notes.txt"
    data.write_bytes(b"minutes of the meeting\n")
    bob.ok(f"upload_file {data} lab")
    bob.ok("stop_share lab notes.txt")
    alice.ok("remove_member lab bob")
    assert _lines(alice.ok("group_log lab")) == [
        "alice created the group",
        "bob asked to join",
        "carol asked to join",
        "alice accepted bob",
        "alice rejected carol",
        "bob shared notes.txt",
        "bob stopped sharing notes.txt",
        "notes.txt is gone: nobody shares it any more",
        "alice removed bob",
    ]
    bob.fails("group_log lab", r"not a member of 'lab'")
