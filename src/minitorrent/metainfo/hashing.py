"""Parallel piece hashing of a file or of a folder's files back to back.

:func:`hash_pieces` (used by :func:`minitorrent.metainfo.build.hash_file` and by
``PieceStorage.recheck``) reads the file with ``os.preadv`` into a few fixed buffers, one per
thread, and lets ``hashlib`` (which releases the GIL for large buffers) work on both cores.
``mmap`` measured a little faster, but a file that shrinks under a mapping kills the whole
process with SIGBUS, and the client hashes files that users may edit while sharing; a short
``preadv`` is an ordinary error instead.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from collections.abc import Callable

from minitorrent.errors import StorageError
from minitorrent.metainfo.info import SHA1_LEN, MiB, count_pieces

#: Bytes read per system call while hashing (rounded to whole pieces).  4 MiB per thread fits
#: the L2/L3 caches of small machines and keeps memory at ``workers * 4 MiB``.
_CHUNK_TARGET = 4 * MiB
#: How often (seconds) the progress callback is called while threads hash.
_PROGRESS_INTERVAL = 0.1


class _FileChanged(Exception):
    """The file got shorter or longer while we read it."""


def _pread_exact(fd: int, buf: memoryview, offset: int) -> None:
    done = 0
    size = len(buf)
    while done < size:
        n = os.preadv(fd, [buf[done:]], offset + done)
        if n == 0:
            raise _FileChanged
        done += n


def _hash_chunk_pieces(
    view: memoryview, first_piece: int, piece_length: int, out: bytearray
) -> None:
    sha1 = hashlib.sha1
    pos = first_piece * SHA1_LEN
    for start in range(0, len(view), piece_length):
        out[pos : pos + SHA1_LEN] = sha1(view[start : start + piece_length]).digest()
        pos += SHA1_LEN


def hash_pieces(
    fd: int,
    length: int,
    piece_length: int,
    *,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    label: str = "the file",
) -> bytes:
    """Hash the first ``length`` bytes of the open file ``fd`` in pieces.

    Returns the concatenated SHA1 of every piece.  This is the one implementation of parallel
    piece hashing.

    Threads: ``workers`` threads hash pieces.  Each thread owns one buffer of whole pieces
    (about 4 MiB) and reads into it with ``os.preadv``, so memory does not grow with the file
    and no data is handed between threads.  Each thread takes the next chunk from a shared
    counter, so all threads move through the file together and a thread the scheduler
    delays does not leave the others idle at the end.  Small files and ``workers == 1`` are
    hashed in the calling thread from a single read.

    ``progress`` is called in the calling thread with the number of bytes done so far (at most
    ``length``), about every 0.1 s and at the end.  Raises :class:`StorageError` if the file is
    shorter or longer than ``length`` (it changed while hashing) or cannot be read; ``label``
    names it in messages.
    """
    if piece_length <= 0:
        raise ValueError("piece_length must be positive")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if length < 0:
        raise ValueError("length must not be negative")
    out = bytearray(SHA1_LEN * count_pieces(length, piece_length))
    try:
        _hash_stream(
            lambda view, offset: _pread_exact(fd, view, offset),
            length,
            piece_length,
            workers,
            out,
            progress,
        )
        if os.fstat(fd).st_size != length:
            raise _FileChanged
    except _FileChanged:
        raise StorageError(f"file changed while hashing: {label}") from None
    except OSError as exc:
        raise StorageError(f"cannot read {label}: {exc.strerror or exc}") from None
    return bytes(out)


#: Fills a buffer with the bytes of the stream at an offset (the file, or a folder's files
#: back to back); raises _FileChanged if there are fewer.
Reader = Callable[[memoryview, int], None]


def hash_stream(
    read: Reader,
    length: int,
    piece_length: int,
    *,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    label: str = "the folder",
) -> bytes:
    """The concatenated piece SHA1s of ``length`` bytes that ``read`` provides (a folder's
    files back to back), hashed like :func:`hash_pieces` on ``workers`` threads."""
    if piece_length <= 0 or workers < 1 or length < 0:
        raise ValueError("piece_length and workers must be positive, length not negative")
    out = bytearray(SHA1_LEN * count_pieces(length, piece_length))
    try:
        _hash_stream(read, length, piece_length, workers, out, progress)
    except _FileChanged:
        raise StorageError(f"file changed while hashing: {label}") from None
    return bytes(out)


def read_stream_exact(fd: int, buf: memoryview, offset: int, label: str) -> None:
    """Fill ``buf`` from ``fd`` at ``offset``; a short file means it changed."""
    try:
        _pread_exact(fd, buf, offset)
    except _FileChanged:
        raise StorageError(f"file changed while hashing: {label}") from None


def _hash_stream(
    read: Reader,
    length: int,
    piece_length: int,
    workers: int,
    out: bytearray,
    progress: Callable[[int], None] | None,
) -> None:
    """Hash ``length`` bytes from ``read`` into ``out`` (see :func:`hash_pieces`)."""
    chunk = max(1, _CHUNK_TARGET // piece_length) * piece_length
    if workers == 1 or -(-length // chunk) <= 1:
        _hash_inline(read, length, piece_length, chunk, out, progress)
    else:
        _hash_threaded(read, length, piece_length, chunk, workers, out, progress)


def _hash_inline(
    read: Reader,
    length: int,
    piece_length: int,
    chunk: int,
    out: bytearray,
    progress: Callable[[int], None] | None,
) -> None:
    buf = memoryview(bytearray(min(chunk, length)))
    offset = 0
    while offset < length:
        view = buf[: min(chunk, length - offset)]
        read(view, offset)
        _hash_chunk_pieces(view, offset // piece_length, piece_length, out)
        offset += len(view)
        if progress is not None:
            progress(offset)
    if progress is not None and length == 0:
        progress(0)


def _hash_threaded(
    read: Reader,
    length: int,
    piece_length: int,
    chunk: int,
    workers: int,
    out: bytearray,
    progress: Callable[[int], None] | None,
) -> None:
    nchunks = -(-length // chunk)
    piece_threads = min(workers, nchunks)
    # done[k] is written by thread k only; the caller only reads (progress).
    done = [0] * piece_threads
    errors: list[BaseException] = []
    stop = threading.Event()
    # next() on a count is atomic under the GIL: each chunk goes to exactly one thread.
    next_chunk = itertools.count()

    def piece_worker(k: int) -> None:
        try:
            buf = memoryview(bytearray(chunk))
            while (c := next(next_chunk)) < nchunks:
                if stop.is_set():
                    return
                offset = c * chunk
                view = buf[: min(chunk, length - offset)]
                read(view, offset)
                _hash_chunk_pieces(view, offset // piece_length, piece_length, out)
                done[k] += len(view)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=piece_worker, args=(k,), name=f"hash-pieces-{k}", daemon=True)
        for k in range(piece_threads)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            if progress is None:
                t.join()
                continue
            while t.is_alive():
                t.join(_PROGRESS_INTERVAL)
                if not errors:
                    progress(sum(done))
    finally:
        stop.set()
        for t in threads:
            if t.ident is not None:
                t.join()
    if errors:
        raise errors[0]
    if progress is not None:
        progress(length)
