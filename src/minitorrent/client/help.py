"""What `help` says: the commands grouped by topic, and one command's usage, what it
does and an example."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class Documented(Protocol):
    """A shell command as help sees it."""

    @property
    def name(self) -> str: ...

    @property
    def usage(self) -> str: ...

    @property
    def help(self) -> str: ...


@dataclass(frozen=True)
class Details:
    topic: str
    text: str
    example: str


TOPICS = ("accounts", "groups", "files", "transfers", "scripting")

DETAILS: dict[str, Details] = {
    "create_user": Details(
        "accounts",
        "Create an account on the tracker. On a terminal, leave the password out to type "
        "it twice without it showing.",
        "create_user alice",
    ),
    "login": Details(
        "accounts",
        "Log in, share again every file this machine shared before and resume unfinished "
        "downloads. On a terminal, leave the password out to type it without it showing.",
        "login alice",
    ),
    "logout": Details(
        "accounts",
        "Stop sharing and downloading, and end the session on the tracker.",
        "logout",
    ),
    "rotate_passkey": Details(
        "accounts",
        "Get a new private announce passkey: links and .torrent files made before stop working.",
        "rotate_passkey",
    ),
    "trackers": Details(
        "accounts",
        "The trackers of tracker_info.txt in order, with their state; * marks the one "
        "that answered last.",
        "trackers",
    ),
    "create_group": Details("groups", "Create a group; you become its admin.", "create_group lab"),
    "join_group": Details("groups", "Ask the admin of a group to let you in.", "join_group lab"),
    "leave_group": Details(
        "groups",
        "Leave a group (your files in it stop being shared) or withdraw a join request.",
        "leave_group lab",
    ),
    "list_groups": Details(
        "groups",
        "Every group with its admin and size; * marks yours, ? a pending request.",
        "list_groups",
    ),
    "list_members": Details("groups", "The members of a group.", "list_members lab"),
    "list_requests": Details(
        "groups", "Pending requests to join a group you administer.", "list_requests lab"
    ),
    "accept_request": Details(
        "groups", "Let a user who asked to join into your group.", "accept_request lab bob"
    ),
    "reject_request": Details(
        "groups", "Turn down a request to join your group.", "reject_request lab bob"
    ),
    "remove_member": Details("groups", "Remove a member from your group.", "remove_member lab bob"),
    "group_log": Details(
        "groups",
        "What happened in a group, newest first: who asked to join, was accepted, "
        "rejected, removed or left, who became admin, which files were shared and "
        "withdrawn, by whom and when. Every member may read it.",
        "group_log lab",
    ),
    "upload_file": Details(
        "files",
        "Hash a file, or a folder as one item, and share it with a group; it stays shared "
        "from this machine until stop_share, also after the next login.",
        "upload_file ~/data/results.csv lab",
    ),
    "list_files": Details(
        "files",
        "The files and folders shared in a group, with size, info-hash (its first "
        "12 digits; all 40 with --long) and how many peers share them (a folder: "
        "`lectures/  12 files  3.4 GiB`); with a name, its full info-hash and the files "
        "inside it. The info-hash identifies a file: it binds every piece's hash.",
        "list_files lab --long",
    ),
    "verify": Details(
        "files",
        "Re-hash your copy of a group's file or folder (one you share or downloaded) "
        "against its piece hashes, with progress; says ok with the number of pieces, or "
        "which pieces and byte ranges do not match.",
        "verify lab results.csv",
    ),
    "list_shares": Details(
        "files", "The files this machine shares, with what each uploaded.", "list_shares"
    ),
    "stop_share": Details(
        "files", "Stop sharing one of your files in a group.", "stop_share lab results.csv"
    ),
    "export_torrent": Details(
        "files",
        "Write a private .torrent of a group's file, for any BitTorrent client (never overwrites).",
        "export_torrent lab results.csv results.torrent",
    ),
    "magnet": Details(
        "files", "Print a private magnet link of a group's file.", "magnet lab results.csv"
    ),
    "download_file": Details(
        "transfers",
        "Download a group's file in the background into a directory or to a file name; "
        "it goes on while you type other commands. For a folder, --only PATTERN (again for "
        "more) fetches just the files whose path inside it matches: * and ? stay within "
        "one folder name, ** crosses folders, a pattern without / matches a name at any "
        "depth, and a matching folder brings everything under it. Files left out are "
        "never created; the download is complete [C] when the chosen files are in.",
        "download_file lab lectures ~/Downloads --only 'week1/*' --only '*.pdf'",
    ),
    "show_downloads": Details(
        "transfers",
        "Every download of this session: [D] downloading, [C] complete, [F] failed.",
        "show_downloads",
    ),
    "cancel_download": Details(
        "transfers",
        "Stop a download; its verified pieces are kept for a later download_file.",
        "cancel_download lab results.csv",
    ),
    "wait": Details(
        "transfers",
        "Block until every download has ended (on a terminal, Ctrl-C stops waiting).",
        "wait",
    ),
    "peers": Details("transfers", "Per-peer byte counters of every transfer.", "peers"),
    "serve": Details(
        "scripting",
        "Keep sharing until SIGINT or SIGTERM: the last line of a seeder's script "
        "(on a terminal, Ctrl-C returns to the prompt).",
        "serve",
    ),
    "echo": Details(
        "scripting", "Print a text: marks progress in a script's output.", "echo 'step 2 done'"
    ),
    "help": Details(
        "scripting", "The commands by topic, or one command in detail.", "help download_file"
    ),
    "quit": Details(
        "scripting",
        "Log out and exit (so does Ctrl-D; on a terminal it asks first when that stops "
        "downloads or sharing).",
        "quit",
    ),
}


def _details(command: Documented) -> Details:
    """A command nobody described yet still gets listed, under "other"."""
    return DETAILS.get(command.name) or Details("other", command.help, command.usage)


def overview(commands: Iterable[Documented]) -> list[str]:
    """Every command under its topic, with its usage and what it does."""
    by_topic: dict[str, list[Documented]] = {topic: [] for topic in TOPICS}
    for command in commands:
        by_topic.setdefault(_details(command).topic, []).append(command)
    width = max(len(c.usage) for listed in by_topic.values() for c in listed)
    lines: list[str] = []
    for topic, listed in by_topic.items():
        lines.append(f"{topic}:")
        lines += [f"  {c.usage.ljust(width)}  {c.help}" for c in listed]
    lines.append("help <command> shows what a command does, with an example.")
    return lines


def describe(command: Documented) -> list[str]:
    """One command: its usage, what it does and an example."""
    details = _details(command)
    return [f"usage: {command.usage}", details.text, f"example: {details.example}"]
