"""Share a folder: list its files and hash them as one stream (a v1 multi-file info dict).

What goes in: regular files only, hidden ones too, empty ones too, sorted by path so that
the same tree always gives the same info-hash.  Symbolic links (to files or folders),
devices, sockets and FIFOs are skipped and counted, so the user can be told.  Empty
folders are dropped: a v1 info dictionary lists files only and cannot describe them.

The pieces run across file boundaries; they are hashed with the same parallel hashing as
a single file (:func:`minitorrent.metainfo.hash_stream`), reading each file with
``os.preadv`` through a fresh descriptor (a folder may hold more files than a process may
keep open).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from minitorrent.errors import MetainfoError, StorageError
from minitorrent.file_list import FileEntry, FolderLimits, Layout, check_files
from minitorrent.metainfo import (
    InfoDict,
    hash_stream,
    piece_length_for,
    read_stream_exact,
)
from minitorrent.names import safe_file_name

__all__ = ["FolderScan", "build_folder_info", "hash_folder", "scan_folder"]


@dataclass(frozen=True)
class FolderScan:
    """The files of a folder as found on disk, sorted by path."""

    root: Path
    files: tuple[FileEntry, ...]
    mtimes_ns: tuple[int, ...]
    skipped: int  # links, devices, sockets, FIFOs
    empty_folders: int  # not shareable in v1

    @property
    def length(self) -> int:
        return sum(f.length for f in self.files)

    @property
    def newest_mtime_ns(self) -> int:
        return max(self.mtimes_ns, default=0)


def scan_folder(root: str | os.PathLike[str]) -> FolderScan:
    """List the regular files below ``root`` (not following links)."""
    base = Path(root)
    files: list[FileEntry] = []
    mtimes: list[int] = []
    skipped = empty = 0

    def walk(folder: str, prefix: tuple[str, ...]) -> None:
        nonlocal skipped, empty
        try:
            with os.scandir(folder) as listing:
                # Each folder in name order, depth first: the paths come out sorted.
                entries = sorted(listing, key=_entry_name)
        except OSError as exc:
            raise StorageError(f"cannot read the folder {folder}: {exc.strerror}") from None
        if not entries and prefix:
            empty += 1
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                walk(entry.path, (*prefix, entry.name))
            elif stat.S_ISREG(st.st_mode):
                files.append(FileEntry((*prefix, entry.name), st.st_size))
                mtimes.append(st.st_mtime_ns)
            else:
                skipped += 1

    walk(os.fspath(base), ())
    return FolderScan(base, tuple(files), tuple(mtimes), skipped, empty)


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


class _FolderReader:
    """Reads the stream of a folder's files back to back (the reader of hash_stream).

    Each file is opened, read and checked with ``fstat`` after the read: a file whose size
    (or, given the scan's ``mtimes_ns``, modification time) differs from the list changed
    before or while it was read.  That one check per file replaces listing the folder again
    after hashing: a file added meanwhile is simply not part of the share."""

    def __init__(
        self, root: Path, files: Sequence[FileEntry], mtimes_ns: Sequence[int] | None = None
    ) -> None:
        self.root = os.fspath(root)
        self.layout = Layout(files)
        self.mtimes_ns = mtimes_ns

    def __call__(self, view: memoryview, offset: int) -> None:
        pos = 0
        for index, file_offset, size in self.layout.spans(offset, len(view)):
            path = self._path(index)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                read_stream_exact(fd, view[pos : pos + size], file_offset, path)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            self._check(index, st, path)
            pos += size

    def check_empty_files(self) -> None:
        """Empty files hold no bytes of the stream, so nothing reads them: stat them."""
        for index, entry in enumerate(self.layout.files):
            if entry.length == 0:
                path = self._path(index)
                st = os.stat(path, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    raise StorageError(f"file changed while hashing: {path}")
                self._check(index, st, path)

    def _path(self, index: int) -> str:
        return "/".join((self.root, *self.layout.files[index].path))

    def _check(self, index: int, st: os.stat_result, path: str) -> None:
        mtimes = self.mtimes_ns
        if st.st_size != self.layout.files[index].length or (
            mtimes is not None and st.st_mtime_ns != mtimes[index]
        ):
            raise StorageError(f"file changed while hashing: {path}")


def hash_folder(
    root: Path,
    files: Sequence[FileEntry],
    piece_length: int,
    *,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    mtimes_ns: Sequence[int] | None = None,
) -> bytes:
    """The concatenated piece SHA1s of ``files`` below ``root`` back to back; with
    ``mtimes_ns`` (a scan's), a file modified since it was listed counts as changed."""
    reader = _FolderReader(root, files, mtimes_ns)
    try:
        pieces = hash_stream(
            reader, reader.layout.length, piece_length, workers=workers, progress=progress
        )
        reader.check_empty_files()
    except OSError as exc:
        raise StorageError(f"cannot read a file of {root}: {exc.strerror or exc}") from None
    return pieces


def build_folder_info(
    root: str | os.PathLike[str],
    name: str,
    source: str,
    *,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    limits: FolderLimits | None = None,
    scan: FolderScan | None = None,
) -> tuple[InfoDict, FolderScan]:
    """Scan and hash the folder ``root``: its private info dict, and what was found.

    ``scan``: the caller's listing of ``root`` (to show progress against its size), used
    instead of listing the folder again; a file changed since is noticed as it is read."""
    safe_file_name(name)
    if scan is None:
        scan = scan_folder(root)
    if not scan.files:
        raise MetainfoError(f"{os.fspath(root)} has no files to share")
    if limits is not None:
        check_files(name, scan.files, limits)
    piece_length = piece_length_for(scan.length)
    pieces = hash_folder(
        scan.root,
        scan.files,
        piece_length,
        workers=workers,
        progress=progress,
        mtimes_ns=scan.mtimes_ns,
    )
    info = InfoDict(name, scan.length, piece_length, pieces, source, True, scan.files)
    return info, scan
