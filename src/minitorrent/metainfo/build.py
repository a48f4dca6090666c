"""From a file on disk to its info dictionary: the piece length we choose, opening the file
safely, hashing it."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from minitorrent.errors import MetainfoError, StorageError
from minitorrent.metainfo.hashing import hash_pieces
from minitorrent.metainfo.info import MAX_LENGTH, InfoDict, KiB, MiB
from minitorrent.names import safe_file_name

#: Limits used when we choose a piece length ourselves. A piece is passed on only once it is
#: complete, so in a swarm every hop a piece takes costs its length over the sender's rate:
#: small files get small pieces (measured on shaped swarms of 16 and 64 MiB files, 64 KiB
#: beat 32, 128 and 256 KiB; see docs/performance-analysis.md, "Third pass").
AUTO_MIN_PIECE_LENGTH = 64 * KiB
AUTO_MAX_PIECE_LENGTH = 4 * MiB
#: We pick the smallest piece length that keeps a file at or under this many pieces (40 KiB of
#: piece hashes, the same target libtorrent uses).
TARGET_MAX_PIECES = 2048


def piece_length_for(size: int) -> int:
    """Return the piece length for a file of ``size`` bytes.

    The smallest power of two from 64 KiB to 4 MiB that keeps the file at <= 2048 pieces:

    ======================  ============  =================
    file size               piece length  pieces
    ======================  ============  =================
    <= 128 MiB              64 KiB        0 .. 2048
    <= 256 MiB              128 KiB       1025 .. 2048
    <= 512 MiB              256 KiB       1025 .. 2048
    <= 1 GiB                512 KiB       1025 .. 2048
    <= 2 GiB                1 MiB         1025 .. 2048
    <= 4 GiB                2 MiB         1025 .. 2048
    larger                  4 MiB         1025 .. (unbounded)
    ======================  ============  =================
    """
    if size < 0:
        raise ValueError("size must not be negative")
    piece = AUTO_MIN_PIECE_LENGTH
    while piece < AUTO_MAX_PIECE_LENGTH and size > piece * TARGET_MAX_PIECES:
        piece *= 2
    return piece


def _open_regular(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """Open ``path`` read-only; it must be a regular file.  Returns (fd, stat)."""
    shown = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO must not hang; it has no effect on regular files.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise StorageError(f"no such file: {shown}") from None
    except IsADirectoryError:
        raise StorageError(f"{shown} is a directory, not a file") from None
    except PermissionError:
        raise StorageError(f"permission denied: cannot read {shown}") from None
    except OSError as exc:
        raise StorageError(f"cannot open {shown}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise StorageError(f"{shown} is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise StorageError(f"{shown} is not a regular file")
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _hash_open_file(
    fd: int,
    st: os.stat_result,
    shown: str,
    piece_length: int,
    workers: int,
    progress: Callable[[int], None] | None,
) -> bytes:
    pieces = hash_pieces(
        fd, st.st_size, piece_length, workers=workers, progress=progress, label=shown
    )
    after = os.fstat(fd)
    if after.st_mtime_ns != st.st_mtime_ns or after.st_size != st.st_size:
        raise StorageError(f"file changed while hashing: {shown}")
    return pieces


def hash_file(
    path: str | os.PathLike[str],
    piece_length: int,
    *,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """The concatenated piece SHA1s of the file at ``path``.

    See :func:`hash_pieces` for ``workers`` and ``progress``.  Raises :class:`StorageError` if
    the file is missing, not a regular file, unreadable, or changes while it is hashed.
    """
    fd, st = _open_regular(path)
    try:
        return _hash_open_file(fd, st, os.fspath(path), piece_length, workers, progress)
    finally:
        os.close(fd)


def build_info(
    path: str | os.PathLike[str],
    name: str,
    source: str,
    *,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> InfoDict:
    """Hash the file at ``path`` in pieces (one pass) and return its private info dict.

    ``name`` is the file name recorded in the info dict, ``source`` the group id.  The
    info-hash binds the piece hashes, so it identifies the content: no whole-file hash.
    """
    safe_file_name(name)
    if not isinstance(source, str) or not source:
        raise MetainfoError("the source (group id) is missing")
    fd, st = _open_regular(path)
    try:
        if st.st_size > MAX_LENGTH:
            raise MetainfoError(f"{os.fspath(path)} is too large")
        piece_length = piece_length_for(st.st_size)
        pieces = _hash_open_file(fd, st, os.fspath(path), piece_length, workers, progress)
    finally:
        os.close(fd)
    return InfoDict(name, st.st_size, piece_length, pieces, source, private=True)
