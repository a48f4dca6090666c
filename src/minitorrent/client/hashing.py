"""Hashing a file to share it, in a thread: its progress can be shown while the command
runs, and cancelling the command stops the thread instead of letting it read on."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from minitorrent.metainfo import InfoDict, build_info


class _Stopped(Exception):
    """Raised in the hashing thread once its command was cancelled."""


class Hashing:
    """The file being hashed for upload_file (one at a time: commands run one by one)."""

    def __init__(self) -> None:
        self.name = ""
        self.size = 0
        self.done = 0  # bytes hashed so far; written by the hashing thread
        self.active = False

    async def build_info(
        self, path: Path, name: str, group_id: str, size: int
    ) -> tuple[InfoDict, str]:
        stop = threading.Event()

        def progress(done: int) -> None:
            if stop.is_set():
                raise _Stopped
            self.done = done

        self.name, self.size, self.done, self.active = name, size, 0, True
        try:
            return await asyncio.to_thread(build_info, path, name, group_id, progress=progress)
        finally:
            stop.set()
            self.active = False
