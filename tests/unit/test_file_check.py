"""The whole-file SHA1 that follows a download's verified prefix (peer/file_check.py)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from minitorrent.errors import StorageError
from minitorrent.peer.file_check import WholeFileHasher

KIB = 1024


@pytest.fixture
def data_file(tmp_path: Path) -> Iterator[tuple[int, bytes, str]]:
    """An open descriptor on a file of random bytes (not a multiple of the chunk size)."""
    data = random.Random(1).randbytes(300 * KIB + 7)
    path = tmp_path / "f.part"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    yield fd, data, str(path)
    os.close(fd)


def _hasher(fd: int, length: int, path: str) -> WholeFileHasher:
    return WholeFileHasher(fd, length, path, chunk=16 * KIB, min_job=64 * KIB, sync_every=KIB)


def test_digest_of_a_prefix_that_grows_in_steps(data_file: tuple[int, bytes, str]) -> None:
    fd, data, path = data_file

    async def run() -> str:
        hasher = _hasher(fd, len(data), path)
        hashed = []
        for verified in (10 * KIB, 100 * KIB, 50 * KIB, 250 * KIB):
            hasher.advance(verified)
            await hasher.settle()
            hashed.append(hasher.hashed // KIB)
        # 10 KiB is too little for a job; the prefix never moves back.
        assert hashed == [0, 100, 100, 250]
        digest = await hasher.hexdigest()
        hasher.close()
        return digest

    assert asyncio.run(run()) == hashlib.sha1(data).hexdigest()


def test_small_advances_wait_for_a_worthwhile_job(data_file: tuple[int, bytes, str]) -> None:
    fd, data, path = data_file

    async def run() -> int:
        hasher = _hasher(fd, len(data), path)
        hasher.advance(32 * KIB)  # less than min_job: not yet
        await hasher.settle()
        hashed = hasher.hashed
        hasher.close()
        return hashed

    assert asyncio.run(run()) == 0


def test_everything_left_is_hashed_at_the_end(data_file: tuple[int, bytes, str]) -> None:
    fd, data, path = data_file

    async def run() -> str:
        hasher = _hasher(fd, len(data), path)
        hasher.advance(200 * KIB)  # the job may still run when the end comes
        digest = await hasher.hexdigest()
        hasher.close()
        return digest

    assert asyncio.run(run()) == hashlib.sha1(data).hexdigest()


def test_it_reads_through_its_own_descriptor(data_file: tuple[int, bytes, str]) -> None:
    """The download's storage may be closed first; the hasher's copy stays valid."""
    _, data, path = data_file
    fd = os.open(path, os.O_RDONLY)

    async def run() -> str:
        hasher = _hasher(fd, len(data), path)
        os.close(fd)
        digest = await hasher.hexdigest()
        hasher.close()
        return digest

    assert asyncio.run(run()) == hashlib.sha1(data).hexdigest()


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        hasher = _hasher(fd, 0, str(path))
        assert asyncio.run(hasher.hexdigest()) == hashlib.sha1().hexdigest()
        hasher.close()
    finally:
        os.close(fd)


def test_a_file_shorter_than_expected_is_an_error(data_file: tuple[int, bytes, str]) -> None:
    fd, data, path = data_file
    hasher = _hasher(fd, len(data) + 1, path)
    with pytest.raises(StorageError, match="shrank"):
        asyncio.run(hasher.hexdigest())
    hasher.close()


def test_closed_hasher_refuses_to_finish(data_file: tuple[int, bytes, str]) -> None:
    fd, data, path = data_file

    async def run() -> None:
        hasher = _hasher(fd, len(data), path)
        hasher.advance(len(data))
        hasher.close()  # mid-job: the job stops and then closes the descriptor
        await hasher.settle()
        await hasher.hexdigest()

    with pytest.raises(StorageError, match="closed"):
        asyncio.run(run())


def test_close_releases_the_descriptor(data_file: tuple[int, bytes, str]) -> None:
    fd, data, path = data_file
    before = len(os.listdir("/proc/self/fd"))

    async def run() -> None:
        hasher = _hasher(fd, len(data), path)
        hasher.advance(len(data))
        hasher.close()
        await hasher.settle()

    asyncio.run(run())
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_read_error_in_the_background_is_reported_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "dir"
    path.mkdir()
    fd = os.open(path, os.O_RDONLY)  # reading a directory fails with EISDIR
    try:

        async def run() -> None:
            hasher = _hasher(fd, 100 * KIB, str(path))
            hasher.advance(100 * KIB)
            await hasher.settle()
            try:
                await hasher.hexdigest()
            finally:
                hasher.close()

        with pytest.raises(StorageError, match="cannot hash"):
            asyncio.run(run())
    finally:
        os.close(fd)
