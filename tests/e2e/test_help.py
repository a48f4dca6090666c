"""`help`: the commands grouped by topic; `help <command>`: its usage, what it does and
an example (the same in a script and on a terminal)."""

from __future__ import annotations

from collections.abc import Callable

from minitorrent.driver import Client


def test_help_groups_the_commands_by_topic(start_client: Callable[..., Client]) -> None:
    out = start_client().ok("help")
    topics = [line for line in out if not line.startswith(" ")][:-1]
    assert topics == ["accounts:", "groups:", "files:", "transfers:", "scripting:"]

    def topic_of(command: str) -> str:
        index = next(i for i, line in enumerate(out) if line.split()[:1] == [command])
        return next(line for line in reversed(out[:index]) if not line.startswith(" "))

    assert topic_of("login") == "accounts:"
    assert topic_of("accept_request") == "groups:"
    assert topic_of("upload_file") == "files:"
    assert topic_of("download_file") == "transfers:"
    assert topic_of("serve") == "scripting:"
    assert out[-1] == "help <command> shows what a command does, with an example."


def test_help_on_one_command(start_client: Callable[..., Client]) -> None:
    client = start_client()
    out = client.ok("help download_file")
    assert out[0] == (
        "usage: download_file <group_id> <file_name> <destination_path> [--only PATTERN]..."
    )
    assert out[1].startswith("Download a group's file in the background")
    assert "--only PATTERN" in out[1]
    assert (
        out[2] == "example: download_file lab lectures ~/Downloads --only 'week1/*' --only '*.pdf'"
    )
    client.fails("help frobnicate", r"^error: unknown command 'frobnicate' \(type help for")
    client.fails("help login now", r"^error: wrong number of arguments; usage: help \[<command>\]$")
