"""The parts file of a folder downloaded in part (``download_file --only``).

Files not wanted are never created, but the bytes of theirs that share a piece with a
wanted file (a *boundary* piece, fetched whole because its hash covers it all) must be
kept: to verify the piece again after a restart and to serve it to others. They go to a
hidden, sparse file beside the folder, ``.<info-hash>.parts`` in the destination's
parent (libtorrent's part file idea), each byte at its offset in the folder's stream.
It exists only when a boundary piece does; it is 0600 and never reached through a link.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from minitorrent.errors import StorageError
from minitorrent.metainfo import InfoDict
from minitorrent.selection import boundary_pieces

__all__ = ["PartsFile", "parts_path"]

Transfer = Callable[[int, list[memoryview], int], int | None]


def parts_path(folder: str | os.PathLike[str], info: InfoDict) -> Path:
    """Beside the folder (its ``.part`` while it downloads, the same folder once moved
    into place, so both find it), hidden."""
    return Path(folder).parent / f".{info.info_hash_hex}.parts"


class PartsFile:
    """Bytes of skipped files that wanted pieces hold, at their stream offsets."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def open(cls, folder: str, info: InfoDict, skip: frozenset[int]) -> PartsFile | None:
        """Open (or create) the parts file if a wanted piece holds bytes of a skipped file.

        Created even to seed: a parts file lost since is made again, empty, and its
        pieces then fail the check made before their first upload."""
        wanted = set(range(len(info.files))) - skip
        if not skip or not boundary_pieces(info.files, info.piece_length, wanted):
            return None
        where = parts_path(folder, info)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(where, flags, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open {where}: {exc.strerror or exc}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                raise StorageError(f"{where} is not our parts file; not using it")
            if st.st_size < info.length:
                os.ftruncate(fd, info.length)  # sparse: only boundary bytes take space
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot use {where}: {exc.strerror or exc}") from None
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, where)

    def move(self, transfer: Transfer, views: list[memoryview], offset: int) -> None:
        """Read or write (``transfer``: a ``preadv``/``pwritev`` loop) at ``offset``."""
        try:
            short_at = transfer(self.fd, views, offset)
        except OSError as exc:
            raise StorageError(f"cannot use {self.path}: {exc.strerror or exc}") from None
        if short_at is not None:
            raise StorageError(f"{self.path} shrank: no data at offset {short_at}")

    def sync(self) -> None:
        os.fdatasync(self.fd)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
