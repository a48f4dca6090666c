"""The whole-file SHA1 of a download, computed while it downloads.

The tracker stores each shared file's SHA1 and a finished download must match it.
Hashing the file only once every piece is verified costs a full extra pass at the
end (about a second per GiB, plus flushing the whole file to disk). Instead this
hasher follows the verified prefix of the file (pieces 0..k-1 all verified, see
``PiecePicker.verified_prefix``): a worker thread reads that prefix back from the
page cache into one reused buffer and feeds it to SHA1, and flushes what it hashed
to disk now and then, so that the final ``fdatasync`` has little left to write.
When the download completes only what is left after the prefix is hashed. A resumed
download's prefix was verified by an earlier process: it is read back the same way.

The background worker runs at idle priority (Linux ``SCHED_IDLE``): it only uses
CPU time that the event loop and the peers leave free. At normal priority, on two
cores, it took time slices from the receiving loop and from the seeder and slowed
the transfer by more than it saved. The rest, once the download is complete, is
hashed at normal priority. hashlib and ``preadv`` release the GIL, so the worker
hardly competes with the event loop for it.

One job runs at a time; it keeps going while the prefix grows, so a sequential
download needs few hand-offs. It reads through a duplicate of the file descriptor,
so closing the download's storage mid-job does not pull the file from under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

from minitorrent.errors import StorageError

__all__ = ["WholeFileHasher"]

CHUNK = 1 << 20  # read and hash this much at a time: stays in cache, few GIL hand-offs
MIN_JOB = 8 << 20  # start a background job once this much is waiting
SYNC_EVERY = 64 << 20  # the background worker flushes the file after hashing this much


def _idle_priority() -> None:
    """Let the calling thread run only on an otherwise idle core, where supported."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


class WholeFileHasher:
    """SHA1 of the first ``length`` bytes of ``fd``, fed as the verified prefix grows.

    Use from the event loop thread: :meth:`advance` after pieces are verified,
    :meth:`hexdigest` at the end, :meth:`close` when the download goes away.
    """

    def __init__(
        self,
        fd: int,
        length: int,
        path: str,
        *,
        chunk: int = CHUNK,
        min_job: int = MIN_JOB,
        sync_every: int = SYNC_EVERY,
    ) -> None:
        self.length = length
        self.path = path
        self._min_job = min_job
        self._sync_every = sync_every
        self._fd = os.dup(fd)
        self._sha1 = hashlib.sha1()
        self._buffer = memoryview(bytearray(max(1, min(chunk, length))))
        self._hashed = 0  # bytes fed to SHA1; written by the job only while one runs
        self._target = 0  # bytes known to be verified, from the start of the file
        self._job: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._finishing = False  # the download is complete: background jobs stop
        self._closed = False
        self._worker: ThreadPoolExecutor | None = None  # created with the first job

    @property
    def hashed(self) -> int:
        """Bytes hashed so far."""
        return self._hashed

    def advance(self, verified: int) -> None:
        """The first ``verified`` bytes of the file are verified: hash them soon."""
        self._target = max(self._target, min(verified, self.length))
        waiting = self._target - self._hashed
        if self._job is None and not self._unusable() and waiting >= self._min_job:
            self._start(background=True)

    async def hexdigest(self) -> str:
        """Hash the rest of the file (all of it must be verified by now); the hex SHA1."""
        if self._closed:
            raise self._failure()
        self._target = self.length
        self._finishing = True
        while self._hashed < self.length:
            if self._job is None:
                if self._unusable():
                    raise self._failure()
                self._start(background=False)
            await self.settle()
        return self._sha1.hexdigest()

    async def settle(self) -> None:
        """Wait until no job runs (and none was started meanwhile); errors are kept
        for :meth:`hexdigest`. A cancelled caller leaves the job running."""
        while self._job is not None:
            await asyncio.wait([self._job])

    def close(self) -> None:
        """Stop hashing; the descriptor is closed now or when the running job returns."""
        self._closed = True
        if self._worker is not None:
            self._worker.shutdown(wait=False)
        if self._job is None:
            self._close_fd()

    # -- internals ----------------------------------------------------------------------

    def _unusable(self) -> bool:
        return self._closed or self._error is not None

    def _start(self, *, background: bool) -> None:
        loop = asyncio.get_running_loop()
        if background:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, "file-sha1", initializer=_idle_priority)
            self._job = loop.run_in_executor(self._worker, self._run, True)
        else:
            self._job = loop.run_in_executor(None, self._run, False)
        self._job.add_done_callback(self._job_done)

    def _job_done(self, job: asyncio.Future[None]) -> None:
        self._job = None
        if not job.cancelled() and job.exception() is not None:
            self._error = job.exception()
        if self._closed:
            self._close_fd()
        elif not self._finishing:
            self.advance(self._target)  # the prefix may have grown after the job's last look

    def _run(self, background: bool) -> None:
        """In a worker thread: hash up to the target, re-reading it as it moves."""
        sha1, buffer, fd = self._sha1, self._buffer, self._fd
        unsynced = 0
        while self._hashed < self._target and not self._closed:
            if background and self._finishing:
                return  # the rest is hashed at normal priority
            view = buffer[: min(len(buffer), self._target - self._hashed)]
            n = os.preadv(fd, [view], self._hashed)
            if n <= 0:
                raise StorageError(f"{self.path} shrank: no data at offset {self._hashed}")
            sha1.update(view[:n])
            self._hashed += n
            unsynced += n
            if background and unsynced >= self._sync_every:
                os.fdatasync(fd)
                unsynced = 0

    def _failure(self) -> Exception:
        error = None if self._closed else self._error
        if isinstance(error, OSError):
            return StorageError(f"cannot hash {self.path}: {error.strerror or error}")
        if isinstance(error, Exception):
            return error
        return StorageError(f"{self.path} is closed")

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
