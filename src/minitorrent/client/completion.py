"""Tab completion for the interactive shell: command names, group ids, a group's file
names, the user ids a command can take (pending requests, members) and local paths.

Names from the tracker are cached for a few seconds and fetched in the background: a
Tab waits for a slow tracker at most WAIT seconds, then offers what it has (the fetch
goes on and the next Tab gets its answer). Typing is never blocked: prompt_toolkit runs
completion as a task beside the key handling.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from minitorrent.client.commands import Client
from minitorrent.errors import MinitorrentError

TTL = 10.0  # seconds a tracker's answer is offered before it is asked again
WAIT = 1.0  # seconds a Tab waits for the tracker

# What each argument completes to; user ids depend on the command.
_ARG_KINDS = {
    "group_id": "groups",
    "file_name": "files",
    "name": "files",
    "file_path": "paths",
    "destination_path": "paths",
    "out.torrent": "paths",
    "command": "commands",
}
# Options offered where a command's optional argument goes, beside what it completes to.
_OPTIONS = {"list_files": ["--long"]}
_USER_KINDS = {
    "accept_request": "requests",
    "reject_request": "requests",
    "remove_member": "members",
}
_SAFE = re.compile(r"[\w@%+=:,./~-]+")


class Parameters(Protocol):
    @property
    def args(self) -> tuple[str, ...]: ...

    @property
    def optional(self) -> tuple[str, ...]: ...

    @property
    def options(self) -> str: ...


Fetch = Callable[[Client, str], Awaitable[list[str]]]


async def _groups(client: Client, _: str) -> list[str]:
    return [g.group_id for g in await client.tracker.list_groups()]


async def _files(client: Client, group: str) -> list[str]:
    return [f.name for f in await client.tracker.list_files(group)]


async def _requests(client: Client, group: str) -> list[str]:
    return [r.user_id for r in await client.tracker.list_requests(group)]


async def _members(client: Client, group: str) -> list[str]:
    return [m.user_id for m in await client.tracker.list_members(group)]


_FETCH: dict[str, Fetch] = {
    "groups": _groups,
    "files": _files,
    "requests": _requests,
    "members": _members,
}


class Lookups:
    """The tracker's names, cached for TTL seconds per (kind, group)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._cache: dict[tuple[str, str], tuple[float, list[str]]] = {}
        self._fetching: dict[tuple[str, str], asyncio.Task[list[str]]] = {}

    def refresh(self) -> None:
        """After a command: what it changed (groups, files, members) is asked again, and
        the group ids are fetched now, so that the first Tab finds them."""
        self._cache.clear()
        if self.client.session is not None:
            self._start(("groups", ""))

    def _start(self, key: tuple[str, str]) -> asyncio.Task[list[str]]:
        task = self._fetching.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key))
            self._fetching[key] = task
            task.add_done_callback(lambda _: self._fetching.pop(key, None))
        return task

    async def get(self, kind: str, group: str = "") -> list[str]:
        if self.client.session is None:
            return []  # the tracker answers members only
        key = (kind, group)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < TTL:
            return cached[1]
        task = self._start(key)
        try:
            return await asyncio.wait_for(asyncio.shield(task), WAIT)
        except TimeoutError:
            return cached[1] if cached is not None else []

    async def _fetch(self, key: tuple[str, str]) -> list[str]:
        kind, group = key
        try:
            values = await _FETCH[kind](self.client, group)
        except MinitorrentError:
            return []  # not a member, no such group, tracker down: nothing to offer now
        self._cache[key] = (time.monotonic(), values)
        return values


def quote_word(word: str) -> str:
    """The word as the shell's parser reads it back: quoted only when it must be."""
    return word if _SAFE.fullmatch(word) else shlex.quote(word)


def split_partial(text: str) -> tuple[list[str], str, int]:
    """The words before the cursor, the word being typed (unquoted) and where its raw
    text starts. An unclosed quote or a trailing backslash belong to the word typed."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    quote = ""
    escaped = False
    for i, char in enumerate(text):
        if start is None:
            if char.isspace():
                continue
            start = i
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char.isspace():
            spans.append((start, i))
            start = None
    words = [_unquote(text[a:b]) for a, b in spans]
    if start is None:
        return words, "", len(text)
    raw = text[start:]
    return words, _unquote(raw[:-1] if escaped else raw + quote), start


def _unquote(raw: str) -> str:
    try:
        return "".join(shlex.split(raw))
    except ValueError:
        return raw


def _list_paths(partial: str) -> list[str]:
    """Local paths that start with `partial`, as typed (~ kept); directories end in /."""
    typed_dir, slash, prefix = partial.rpartition("/")
    directory = os.path.expanduser(typed_dir + slash) if slash else "."
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith(prefix) or (
            entry.name.startswith(".") and not prefix.startswith(".")
        ):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        found.append(typed_dir + slash + entry.name + ("/" if is_dir else ""))
    return found


class ShellCompleter(Completer):
    def __init__(self, commands: Mapping[str, Parameters], lookups: Lookups) -> None:
        self.commands = commands
        self.lookups = lookups

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        return []  # everything is in get_completions_async

    async def get_completions_async(
        self, document: Document, complete_event: CompleteEvent
    ) -> AsyncGenerator[Completion, None]:
        words, partial, start = split_partial(document.text_before_cursor)
        replace = len(document.text_before_cursor) - start
        for candidate in sorted(set(await self._candidates(words, partial))):
            if candidate.startswith(partial):
                yield Completion(quote_word(candidate), -replace, display=candidate)

    async def _candidates(self, words: list[str], partial: str) -> list[str]:
        if not words:
            return list(self.commands)
        command = self.commands.get(words[0])
        if command is None:
            return []
        params = command.args + command.optional
        index = len(words) - 1
        if index >= len(params):
            # Options after the arguments (download_file --only PATTERN): the option's
            # name, not the pattern after it.
            wants_name = "--only" in command.options and words[-1] != "--only"
            return ["--only"] if wants_name else []
        kind = _USER_KINDS.get(words[0]) if params[index] == "user_id" else None
        kind = kind or _ARG_KINDS.get(params[index])
        group = words[1 + params.index("group_id")] if "group_id" in params[:index] else ""
        if kind == "commands":
            return list(self.commands)
        if kind == "paths":
            return await asyncio.to_thread(_list_paths, partial)
        options = _OPTIONS.get(words[0], []) if index == len(command.args) else []
        if kind is None or (kind != "groups" and not group):
            return options
        return options + await self.lookups.get(kind, group)
