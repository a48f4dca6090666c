"""Part of a shared folder: which of its files a download wants (``--only PATTERN``).

A pattern is a glob on a file's path inside the folder (``week1/intro.mp4``):

* ``*`` matches any run of characters except ``/``, ``?`` one character except ``/``,
  ``[abc]`` / ``[!abc]`` one character of (not of) a set, ``**`` anything, ``/`` included;
* a pattern without ``/`` is matched against each name along the path, so ``*.pdf``
  selects every PDF at any depth and ``week1`` the folder ``week1`` wherever it is;
* a pattern with ``/`` is matched against the path from the folder's top (so a leading
  ``/`` anchors a single name there: ``/week1``);
* matching a folder selects everything under it: ``week1`` and ``week1/*`` both take
  the whole of ``week1``.

Matching is case-sensitive. A file is wanted if any pattern matches it.

The pieces to fetch are those that overlap a wanted file: a piece shared by a wanted
and an unwanted file (a *boundary* piece) is fetched whole, as its hash covers it all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from minitorrent.errors import MinitorrentError
from minitorrent.file_list import FileEntry, Layout
from minitorrent.metainfo import InfoDict

__all__ = [
    "Selection",
    "boundary_pieces",
    "decode_patterns",
    "encode_patterns",
    "pieces_wanted",
    "select_files",
    "wanted_pieces",
]


def _translate(pattern: str) -> str:
    """The regular expression of one glob (see the module docstring)."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1 if pattern[i : i + 1] in ("!", "]") else i)
            if end < 0:
                out.append(re.escape(c))
                continue
            body = pattern[i:end]
            i = end + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[^/{body}]" if negate else f"[{body}]")
        else:
            out.append(re.escape(c))
    return "".join(out)


class _Pattern:
    __slots__ = ("anchored", "regex", "text")

    def __init__(self, text: str) -> None:
        cleaned = text.strip("/")
        if not cleaned:
            raise MinitorrentError(f"--only {text!r}: an empty pattern selects nothing")
        self.text = text
        self.anchored = "/" in text.rstrip("/")
        try:
            self.regex = re.compile(_translate(cleaned))
        except re.error as exc:  # a set like [z-a]
            raise MinitorrentError(f"--only {text!r} is not a valid pattern: {exc}") from None

    def matches(self, path: tuple[str, ...]) -> bool:
        if self.anchored:  # the path from the top, or one of the folders along it
            return any(self.regex.fullmatch("/".join(path[:k])) for k in range(1, len(path) + 1))
        return any(self.regex.fullmatch(element) for element in path)


def select_files(files: Sequence[FileEntry], patterns: Iterable[str]) -> list[int]:
    """Indices of the files any pattern matches; MinitorrentError naming a pattern that
    matches no file (a typo would otherwise silently fetch less than meant)."""
    compiled = [_Pattern(p) for p in patterns]
    chosen: set[int] = set()
    for pattern in compiled:
        hits = [i for i, entry in enumerate(files) if pattern.matches(entry.path)]
        if not hits:
            raise MinitorrentError(f"--only {pattern.text!r} matches no file of the folder")
        chosen.update(hits)
    return sorted(chosen)


def wanted_pieces(files: Sequence[FileEntry], piece_length: int, wanted: Iterable[int]) -> set[int]:
    """The pieces that overlap a wanted file (empty files overlap none)."""
    layout = Layout(files)
    pieces: set[int] = set()
    for i in wanted:
        start, length = layout.starts[i], files[i].length
        if length:
            pieces.update(range(start // piece_length, (start + length - 1) // piece_length + 1))
    return pieces


def boundary_pieces(
    files: Sequence[FileEntry], piece_length: int, wanted: Iterable[int]
) -> set[int]:
    """Wanted pieces that also hold bytes of an unwanted file."""
    chosen = set(wanted)
    unwanted = [i for i in range(len(files)) if i not in chosen]
    return wanted_pieces(files, piece_length, chosen) & wanted_pieces(files, piece_length, unwanted)


def pieces_wanted(info: InfoDict, skip: frozenset[int]) -> set[int] | None:
    """The pieces a download of ``info`` without the files ``skip`` wants (None: all)."""
    if not skip:
        return None
    wanted = [i for i in range(len(info.files)) if i not in skip]
    return wanted_pieces(info.files, info.piece_length, wanted)


class Selection:
    """The files a download wants: ``patterns`` as given, ``files`` their indices."""

    __slots__ = ("files", "patterns", "total")

    def __init__(self, patterns: Sequence[str], files: Sequence[int], total: int) -> None:
        self.patterns = tuple(patterns)
        self.files = frozenset(files)
        self.total = total  # files in the folder

    @classmethod
    def of(cls, files: Sequence[FileEntry], patterns: Sequence[str]) -> Selection:
        return cls(patterns, select_files(files, patterns), len(files))

    def skipped(self) -> frozenset[int]:
        """The files not wanted."""
        return frozenset(range(self.total)) - self.files

    def describe(self) -> str:
        """``3 of 120 files``, as show_downloads shows it."""
        return f"{len(self.files)} of {self.total} files"


def encode_patterns(patterns: Sequence[str]) -> str | None:
    """The state file's text for a selection (None: the whole item)."""
    return json.dumps(list(patterns)) if patterns else None


def decode_patterns(text: str | None) -> list[str]:
    """The patterns of a state-file text; ValueError if it is not a list of strings."""
    if text is None:
        return []
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError("the file selection is not a list of patterns")
    return value
