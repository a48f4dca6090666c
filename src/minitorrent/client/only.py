"""``download_file ... --only PATTERN``: its words, and the selection a download keeps.

The patterns (see :mod:`minitorrent.selection` for what they match) are stored with
the download and, once it is complete, with the share, so that a resume after a crash
and the re-share at login fetch and serve the same files.
"""

from __future__ import annotations

from collections.abc import Sequence

from minitorrent.errors import MinitorrentError, UsageError
from minitorrent.metainfo import InfoDict
from minitorrent.selection import Selection, decode_patterns

__all__ = ["USAGE", "choose", "parse_only", "part_note", "shown", "skipped", "stored"]

USAGE = "download_file <group_id> <file_name> <destination_path> [--only PATTERN]..."


def parse_only(words: Sequence[str]) -> list[str]:
    """The patterns of ``--only PATTERN`` / ``--only=PATTERN`` words, in order."""
    patterns: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--only="):
            patterns.append(word.removeprefix("--only="))
        elif word == "--only":
            if i + 1 == len(words):
                raise UsageError(f"--only needs a pattern; usage: {USAGE}")
            i += 1
            patterns.append(words[i])
        else:
            raise UsageError(f"unexpected argument {word!r}; usage: {USAGE}")
        i += 1
    return patterns


def choose(info: InfoDict, patterns: Sequence[str]) -> Selection | None:
    """The files ``patterns`` select (None: no --only, the whole item)."""
    if not patterns:
        return None
    if not info.is_folder:
        raise MinitorrentError(
            f"--only selects files inside a folder; '{info.name}' is a single file"
        )
    return Selection.of(info.files, patterns)


def stored(info: InfoDict, only: str | None) -> Selection | None:
    """The selection saved with a download or share record, or why it is unusable."""
    try:
        return choose(info, decode_patterns(only))
    except ValueError as exc:
        raise MinitorrentError(f"its file selection is damaged: {exc}") from None


def shown(text: str | None) -> str:
    """A stored selection as typed: ``--only 'a' --only 'b'``, or the whole item."""
    try:
        patterns = decode_patterns(text)
    except ValueError:
        return "a damaged selection"
    return " ".join(f"--only {p!r}" for p in patterns) if patterns else "the whole item"


def skipped(selection: Selection | None) -> frozenset[int]:
    """The files a download leaves out (none without --only)."""
    return frozenset() if selection is None else selection.skipped()


def part_note(info: InfoDict, skip: frozenset[int]) -> str:
    """`` (3 of 120 files)`` for part of a folder, else nothing."""
    if not skip:
        return ""
    total = len(info.files)
    return f" ({total - len(skip)} of {total} files)"
