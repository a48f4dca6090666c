"""Hashing a file to share it (or to verify a local copy), in a thread: its progress can be
shown while the command runs, and cancelling the command stops the thread instead of letting
it read on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from minitorrent.folder import FolderScan, build_folder_info, scan_folder
from minitorrent.metainfo import InfoDict, build_info
from minitorrent.peer.folder_storage import open_storage
from minitorrent.selection import pieces_wanted

T = TypeVar("T")
Progress = Callable[[int], None]


class _Stopped(Exception):
    """Raised in the hashing thread once its command was cancelled."""


class Hashing:
    """The file being hashed for upload_file or verify (one at a time: commands run one
    by one)."""

    def __init__(self) -> None:
        self.name = ""
        self.size = 0
        self.done = 0  # bytes hashed so far; written by the hashing thread
        self.active = False

    async def build_info(self, path: Path, name: str, group_id: str, size: int) -> InfoDict:
        return await self._hash(
            name, size, lambda progress: build_info(path, name, group_id, progress=progress)
        )

    async def build_folder_info(
        self, path: Path, name: str, group_id: str
    ) -> tuple[InfoDict, FolderScan]:
        """A folder's info dict; its size is known once it is listed."""
        scan = await asyncio.to_thread(scan_folder, path)
        return await self._hash(
            name,
            scan.length,
            lambda progress: build_folder_info(path, name, group_id, progress=progress, scan=scan),
        )

    async def check(
        self, path: Path, info: InfoDict, skip: frozenset[int] = frozenset()
    ) -> list[bool]:
        """Which pieces of the file or folder at ``path`` match ``info``'s piece hashes
        (part of a folder, ``skip``: its wanted pieces only; the others are False)."""

        def work(progress: Progress) -> list[bool]:
            with open_storage(path, info, writable=False, skip=skip) as storage:
                return storage.recheck(progress, wanted=pieces_wanted(info, skip))

        return await self._hash(info.name, info.length, work)

    async def _hash(self, name: str, size: int, work: Callable[[Progress], T]) -> T:
        stop = threading.Event()

        def progress(done: int) -> None:
            if stop.is_set():
                raise _Stopped
            self.done = done

        self.name, self.size, self.done, self.active = name, size, 0, True
        try:
            return await asyncio.to_thread(work, progress)
        finally:
            stop.set()
            self.active = False
