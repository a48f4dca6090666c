"""upload_file's hashing reports its progress, and stops reading when cancelled."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.client.hashing import Hashing


def _hashing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hash-")]


async def _until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)  # polling interval of a condition wait


def test_progress_then_cancel_stops_the_threads(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(32 << 30)  # sparse: long to hash, nothing on disk

    async def scenario() -> None:
        hashing = Hashing()
        task = asyncio.create_task(hashing.build_info(big, "big.bin", "lab", 32 << 30))
        await _until(lambda: hashing.done > 0, 30)
        assert hashing.active and hashing.name == "big.bin" and hashing.size == 32 << 30
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not hashing.active
        await _until(lambda: not _hashing_threads(), 10)  # they stopped reading

    asyncio.run(scenario())


def test_a_small_file_is_hashed(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"notes\n")
    hashing = Hashing()
    info = asyncio.run(hashing.build_info(path, "notes.txt", "lab", 6))
    assert info.length == 6 and info.source == "lab"
    assert info.pieces == hashlib.sha1(b"notes\n").digest()
    assert hashing.done == 6 and not hashing.active
