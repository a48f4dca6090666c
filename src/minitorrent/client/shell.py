"""The client's shell: read command lines, run them one at a time, print results.

Interactive on a terminal (prompt_toolkit: history, completion; rich tables);
plain lines when input or output is not a terminal, so scripts can drive it.
A failing command prints exactly one ``error:`` line on standard error.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from minitorrent.client import help as help_text
from minitorrent.client.commands import Client, usage_error
from minitorrent.client.render import NOTICE, render
from minitorrent.client.results import Done, Result
from minitorrent.error_codes import ErrorCode
from minitorrent.errors import MinitorrentError, TrackerRefused


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]
    help: str
    run: Callable[..., Awaitable[Result]]
    optional: tuple[str, ...] = ()  # arguments after `args` that may be left out
    rest: bool = False  # the last argument is the rest of the line, any number of words
    options: str = ""  # usage of options after the arguments (the command parses them)

    @property
    def usage(self) -> str:
        return (
            " ".join(
                [self.name, *(f"<{a}>" for a in self.args), *(f"[<{a}>]" for a in self.optional)]
            )
            + ("..." if self.rest else "")
            + (f" {self.options}" if self.options else "")
        )

    def takes(self, count: int) -> bool:
        """Whether the command takes that many arguments."""
        if self.options:
            return count >= len(self.args)
        return len(self.args) <= count <= len(self.args) + len(self.optional)


class Shell:
    def __init__(self, client: Client, out: TextIO, err: TextIO, *, interactive: bool) -> None:
        self.client = client
        self.out = out
        self.err = err
        self.interactive = interactive
        self.failed = False
        self.quit_requested = False
        self.stop_event = asyncio.Event()
        self.line_number: int | None = None  # of the script line being run
        c = client
        self.commands: dict[str, Command] = {
            cmd.name: cmd
            for cmd in [
                Command("create_user", ("user_id", "password"), "create an account", c.create_user),
                Command("login", ("user_id", "password"), "log in and share again", c.login),
                Command("logout", (), "stop sharing and log out", c.logout),
                Command(
                    "create_group", ("group_id",), "create a group (you are admin)", c.create_group
                ),
                Command("join_group", ("group_id",), "ask to join a group", c.join_group),
                Command(
                    "leave_group",
                    ("group_id",),
                    "leave a group or withdraw a request",
                    c.leave_group,
                ),
                Command(
                    "list_requests", ("group_id",), "pending join requests (admin)", c.list_requests
                ),
                Command(
                    "accept_request",
                    ("group_id", "user_id"),
                    "accept a join request",
                    c.accept_request,
                ),
                Command(
                    "reject_request",
                    ("group_id", "user_id"),
                    "reject a join request",
                    c.reject_request,
                ),
                Command("list_groups", (), "every group; * marks yours", c.list_groups),
                Command("list_members", ("group_id",), "members of a group", c.list_members),
                Command(
                    "group_log", ("group_id",), "a group's activity, newest first", c.group_log
                ),
                Command(
                    "remove_member",
                    ("group_id", "user_id"),
                    "remove a member (admin)",
                    c.remove_member,
                ),
                Command(
                    "upload_file",
                    ("file_path", "group_id"),
                    "share a file in a group",
                    c.upload_file,
                ),
                Command(
                    "list_files",
                    ("group_id",),
                    "files shared in a group (--long: full info-hashes); with a name, "
                    "the files inside it",
                    c.list_files,
                    optional=("name",),
                ),
                Command(
                    "verify",
                    ("group_id", "file_name"),
                    "re-hash your copy of a file against its piece hashes",
                    c.verify,
                ),
                Command(
                    "download_file",
                    ("group_id", "file_name", "destination_path"),
                    "download a file in the background",
                    c.download_file,
                    options="[--only PATTERN]...",
                ),
                Command(
                    "show_downloads",
                    (),
                    "[D] downloading, [C] complete, [F] failed",
                    c.show_downloads,
                ),
                Command(
                    "cancel_download",
                    ("group_id", "file_name"),
                    "stop a download (verified pieces are kept)",
                    c.cancel_download,
                ),
                Command(
                    "stop_share", ("group_id", "file_name"), "stop sharing a file", c.stop_share
                ),
                Command("list_shares", (), "what this client shares", c.list_shares),
                Command(
                    "export_torrent",
                    ("group_id", "file_name", "out.torrent"),
                    "write a private .torrent for any BitTorrent client",
                    c.export_torrent,
                ),
                Command(
                    "magnet", ("group_id", "file_name"), "print a private magnet link", c.magnet
                ),
                Command("rotate_passkey", (), "new private announce passkey", c.rotate_passkey),
                Command(
                    "trackers", (), "the trackers, in the file's order; * answered last", c.trackers
                ),
                Command("wait", (), "block until every download has ended", c.wait),
                Command("serve", (), "keep sharing until SIGINT/SIGTERM", self._serve),
                Command("peers", (), "per-peer byte counters", self._peers),
                Command(
                    "echo",
                    ("text",),
                    "print the rest of the line (marks progress in scripts)",
                    self._echo,
                    rest=True,
                ),
                Command("help", (), "the commands, or one in detail", self._help, ("command",)),
                Command("quit", (), "log out and exit", self._quit),
            ]
        }

    # -- built-ins --------------------------------------------------------------

    async def _help(self, name: str = "") -> Result:
        if not name:
            return [Done(line) for line in help_text.overview(self.commands.values())]
        command = self.commands.get(name)
        if command is None:
            raise MinitorrentError(f"unknown command '{name}' (type help for the list)")
        return [Done(line) for line in help_text.describe(command)]

    async def _echo(self, text: str) -> Result:
        return Done(text)

    async def _quit(self) -> Result:
        self.quit_requested = True
        return None

    async def _serve(self) -> Result:
        self.client._require_login()
        self.say(
            f"serving on {self.client.node.host}:{self.client.node.port}; "
            "stop with SIGINT or SIGTERM"
        )
        await self.stop_event.wait()
        return None

    async def _peers(self) -> Result:
        node = self.client.node
        counters = self.client.peer_counters() or ["no peers yet"]
        return [Done(f"this client: {node.peer_id.hex()} on {node.host}:{node.port}")] + [
            Done(line) for line in counters
        ]

    # -- running one line -------------------------------------------------------

    async def run_line(self, line: str, number: int | None = None) -> None:
        """Run one command line; `number` (script mode) goes into its error line."""
        self.line_number = number
        try:
            words = shlex.split(strip_comment(line))
        except ValueError as exc:
            self.error(f"cannot parse the command line: {exc}")
            return
        if not words:
            return
        name, args = words[0], words[1:]
        command = self.commands.get(name)
        if command is None:
            self.error(f"unknown command '{name}' (type help for the list)")
            return
        if command.rest:  # its words as one argument, single spaces between
            args = [*args[: len(command.args) - 1], " ".join(args[len(command.args) - 1 :])]
        try:
            if not command.takes(len(args)):
                raise usage_error(command.usage)
            result = await command.run(*args)
        except TrackerRefused as exc:
            if exc.code == ErrorCode.NOT_LOGGED_IN and self.client.session is not None:
                why = self.client.why_session_unknown()
                await self.client.session_lost()
                self.error(why)
            else:
                self.error(str(exc))
            return
        except MinitorrentError as exc:
            self.error(str(exc))
            return
        self.render(result)

    # -- output -------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def error(self, text: str) -> None:
        self.failed = True
        where = "" if self.line_number is None else f"line {self.line_number}: "
        print(f"error: {where}{text}", file=self.err, flush=True)

    def notice(self, text: str) -> None:
        print(NOTICE + text, file=self.err, flush=True)

    def render(self, result: Result) -> None:
        render(result, self.out, self.err, rich=self.interactive)


def strip_comment(line: str) -> str:
    """Cut a ``#`` comment off as a POSIX shell does: only where a word starts,
    outside quotes. (shlex's own comments also cut ``pa#ss`` to ``pa``.)"""
    quote = ""
    escaped = False
    word_start = True
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif quote == '"':
            quote = "" if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char.isspace():
            word_start = True
            continue
        elif char == "#" and word_start:
            return line[:i]
        word_start = False
    return line
