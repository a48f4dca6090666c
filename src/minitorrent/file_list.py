"""The file list of a shared folder (a BitTorrent v1 multi-file info dictionary).

Every path comes from someone else's metadata and will become a file on our disk, so each
element must be one safe name (:func:`minitorrent.names.safe_file_name`: no ``..``, no
separator, no control or bidi character, at most 255 bytes), and the list as a whole must
describe a tree a file system can hold: no two entries that a case-folding or
Unicode-normalising file system (macOS, Windows) would take for the same file, and no file
where another entry needs a folder.  The number of files and the length of a path are
bounded (:class:`FolderLimits`); the tracker takes its limits from its settings.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from minitorrent.errors import MetainfoError
from minitorrent.names import safe_file_name

__all__ = [
    "HARD_LIMITS",
    "FileEntry",
    "FolderLimits",
    "Layout",
    "check_files",
    "check_limits",
]


@dataclass(frozen=True)
class FolderLimits:
    """How big a folder may be: files in it, and bytes (UTF-8) of one path inside it,
    the folder's own name included."""

    max_files: int = 100_000
    max_path_bytes: int = 1024


#: What any info dictionary is held to when it is parsed (a path beyond PATH_MAX cannot
#: be opened anyway); the configurable limits above are checked on top of these.
HARD_LIMITS = FolderLimits(max_files=1_000_000, max_path_bytes=4095)


@dataclass(frozen=True)
class FileEntry:
    """One file of a folder: its path below the folder (one name per element) and size."""

    path: tuple[str, ...]
    length: int

    @property
    def relative(self) -> str:
        """The path as shown to people (``sub/dir/file``)."""
        return "/".join(self.path)


def _fold(element: str) -> str:
    """The key under which a case-folding, normalising file system stores a name."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", element).casefold())


def check_files(name: str, files: Sequence[FileEntry], limits: FolderLimits = HARD_LIMITS) -> None:
    """Refuse a file list that is unsafe to write below a folder called ``name``."""
    if not isinstance(files, tuple) or not files:
        raise MetainfoError("a folder must list at least one file")
    if len(files) > limits.max_files:
        check_limits(name, files, limits)  # refuses, before any work per file
    keys: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    for entry in files:
        _check_entry(entry)
        key = tuple(_fold(e) for e in entry.path)
        if key in keys:
            raise MetainfoError(f"two files in the folder are both named {entry.relative!r}")
        keys.add(key)
        folders.update(key[:i] for i in range(1, len(key)))
    clash = keys & folders
    if clash:
        nested = next(e for e in files if tuple(_fold(x) for x in e.path) in clash)
        raise MetainfoError(f"{nested.relative!r} is a file and also a folder of other files")
    check_limits(name, files, limits)


def check_limits(name: str, files: Iterable[FileEntry], limits: FolderLimits) -> None:
    """Refuse a folder with more files, or a longer path, than ``limits`` allow."""
    entries = list(files)
    if len(entries) > limits.max_files:
        raise MetainfoError(
            f"the folder has {len(entries)} files; at most {limits.max_files} are allowed"
        )
    base = len(name.encode("utf-8"))
    for entry in entries:
        size = base + sum(1 + len(e.encode("utf-8")) for e in entry.path)
        if size > limits.max_path_bytes:
            raise MetainfoError(
                f"the path {name}/{entry.relative} is too long ({size} bytes in UTF-8; "
                f"at most {limits.max_path_bytes})"
            )


def _check_entry(entry: FileEntry) -> None:
    if not isinstance(entry.path, tuple) or not entry.path:
        raise MetainfoError("a file of the folder has an empty path")
    for element in entry.path:
        safe_file_name(element)
    length = entry.length
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise MetainfoError(f"the file {entry.relative!r} has an invalid length {length!r}")


class Layout:
    """Where the bytes of a folder's stream lie: file ``i`` holds stream bytes
    ``starts[i] .. starts[i] + files[i].length``."""

    def __init__(self, files: Sequence[FileEntry]) -> None:
        self.files = tuple(files)
        self.starts: list[int] = []
        total = 0
        for entry in self.files:
            self.starts.append(total)
            total += entry.length
        self.length = total

    def spans(self, offset: int, length: int) -> Iterator[tuple[int, int, int]]:
        """``(file index, offset in that file, size)`` for each file a range touches, in
        order; empty files are skipped (they hold no bytes)."""
        index = max(bisect.bisect_right(self.starts, offset) - 1, 0)
        end = offset + length
        while offset < end and index < len(self.files):
            start, size = self.starts[index], self.files[index].length
            take = min(end, start + size) - offset
            if take > 0:
                yield index, offset - start, take
                offset += take
            index += 1
