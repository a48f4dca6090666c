"""Info dictionaries (single-file, private, BitTorrent v1), parallel piece hashing, .torrent files
and magnet links.

An :class:`InfoDict` is valid by construction: its fields are checked when it is created, and
:meth:`InfoDict.decode` additionally insists that the raw bytes are the canonical bencoding, so
``info.info_hash == sha1(raw)`` for every dictionary we accept.

Hashing (:func:`hash_pieces`, used by :func:`hash_file` and by ``PieceStorage.recheck``) reads
the file with ``os.preadv`` into a few fixed buffers, one per thread, and lets ``hashlib`` (which
releases the GIL for large buffers) work on both cores.  ``mmap`` measured a little faster, but a
file that shrinks under a mapping kills the whole process with SIGBUS, and the client hashes
files that users may edit while sharing; a short ``preadv`` is an ordinary error instead.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

from fastbencode import bdecode, bencode  # type: ignore[attr-defined]  # not re-exported in its stub

from minitorrent.errors import MetainfoError, StorageError
from minitorrent.file_list import FileEntry, check_files
from minitorrent.names import safe_file_name

__all__ = [
    "MAX_PIECE_LENGTH",
    "MIN_PIECE_LENGTH",
    "InfoDict",
    "build_info",
    "hash_file",
    "hash_pieces",
    "hash_stream",
    "magnet_link",
    "piece_length_for",
    "safe_file_name",
    "torrent_bytes",
]

KiB = 1 << 10
MiB = 1 << 20

#: Limits accepted when decoding (BEP 52's minimum; a piece must fit in memory comfortably).
MIN_PIECE_LENGTH = 16 * KiB
MAX_PIECE_LENGTH = 16 * MiB
#: Limits used when we choose a piece length ourselves.
AUTO_MIN_PIECE_LENGTH = 256 * KiB
AUTO_MAX_PIECE_LENGTH = 4 * MiB
#: We pick the smallest piece length that keeps a file at or under this many pieces (40 KiB of
#: piece hashes, the same target libtorrent uses).
TARGET_MAX_PIECES = 2048
#: Largest file size we represent (off_t on 64-bit systems).
MAX_LENGTH = (1 << 63) - 1
SHA1_LEN = 20

#: Bytes read per system call while hashing (rounded to whole pieces).  4 MiB per thread fits
#: the L2/L3 caches of small machines and keeps memory at ``workers * 4 MiB``.
_CHUNK_TARGET = 4 * MiB
#: How often (seconds) the progress callback is called while threads hash.
_PROGRESS_INTERVAL = 0.1

_INFO_KEYS = frozenset(
    {b"files", b"length", b"name", b"piece length", b"pieces", b"private", b"source"}
)
_FILE_KEYS = frozenset({b"length", b"path"})


def piece_length_for(size: int) -> int:
    """Return the piece length for a file of ``size`` bytes.

    The smallest power of two from 256 KiB to 4 MiB that keeps the file at <= 2048 pieces:

    ======================  ============  =================
    file size               piece length  pieces
    ======================  ============  =================
    <= 512 MiB              256 KiB       0 .. 2048
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


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _num_pieces(length: int, piece_length: int) -> int:
    return -(-length // piece_length)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class InfoDict:
    """The info dictionary of one shared file or folder (BitTorrent v1).

    ``source`` is the group id: the same file shared in two groups has two info-hashes.
    A folder lists its files in ``files`` (empty for a single file); its ``length`` is
    their total, the length of the stream of all its files back to back that the pieces
    cut up.  ``name`` is then the folder's name.
    """

    name: str
    length: int
    piece_length: int
    pieces: bytes
    source: str
    private: bool = True
    files: tuple[FileEntry, ...] = ()

    def __post_init__(self) -> None:
        safe_file_name(self.name)
        if self.files or not isinstance(self.files, tuple):
            check_files(self.name, self.files)
            if self.length != sum(f.length for f in self.files):
                raise MetainfoError("the length of a folder must be the sum of its files")
        if not _is_int(self.length):
            raise MetainfoError(f"invalid file length {self.length!r}")
        if self.length < 0:
            raise MetainfoError("the file length is negative")
        if self.length > MAX_LENGTH:
            raise MetainfoError(f"the file length {self.length} is too large")
        pl = self.piece_length
        if not _is_int(pl) or not _is_power_of_two(pl):
            raise MetainfoError(f"the piece length {pl!r} is not a power of two")
        if not MIN_PIECE_LENGTH <= pl <= MAX_PIECE_LENGTH:
            raise MetainfoError(
                f"the piece length {pl} is out of range "
                f"({MIN_PIECE_LENGTH} to {MAX_PIECE_LENGTH} bytes)"
            )
        if not isinstance(self.pieces, bytes):
            raise MetainfoError("the piece hashes must be bytes")
        expected = SHA1_LEN * _num_pieces(self.length, pl)
        if len(self.pieces) != expected:
            raise MetainfoError(
                f"the piece hashes are {len(self.pieces)} bytes; a {self.length}-byte file "
                f"in {pl}-byte pieces needs {expected}"
            )
        if not isinstance(self.source, str) or not self.source:
            raise MetainfoError("the source (group id) is missing")
        try:
            self.source.encode("utf-8")
        except UnicodeEncodeError:
            raise MetainfoError("the source (group id) is not valid Unicode") from None
        if not isinstance(self.private, bool):
            raise MetainfoError("private must be a boolean")

    # -- bencoding -------------------------------------------------------------------------

    @cached_property
    def _encoded(self) -> bytes:
        d: dict[bytes, Any] = {
            b"name": self.name.encode("utf-8"),
            b"piece length": self.piece_length,
            b"pieces": self.pieces,
            b"source": self.source.encode("utf-8"),
        }
        if self.files:
            d[b"files"] = [
                {b"length": f.length, b"path": [e.encode("utf-8") for e in f.path]}
                for f in self.files
            ]
        else:
            d[b"length"] = self.length
        if self.private:
            d[b"private"] = 1
        encoded: bytes = bencode(d)
        return encoded

    def encode(self) -> bytes:
        """The canonical bencoding (sorted keys); its SHA1 is the info-hash."""
        return self._encoded

    @cached_property
    def info_hash(self) -> bytes:
        """SHA1 of :meth:`encode` (20 bytes)."""
        return hashlib.sha1(self._encoded).digest()

    @property
    def info_hash_hex(self) -> str:
        return self.info_hash.hex()

    @property
    def is_folder(self) -> bool:
        return bool(self.files)

    @classmethod
    def decode(cls, raw: bytes) -> InfoDict:
        """Parse and strictly validate a bencoded info dictionary.

        Raises :class:`MetainfoError` unless ``raw`` is the canonical bencoding of a valid
        single-file or folder info dictionary (so that ``sha1(raw)`` is the info-hash we
        compute); every path of a folder is checked (:func:`minitorrent.file_list.check_files`).
        """
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise MetainfoError("the info dictionary must be bytes")
        raw = bytes(raw)
        try:
            d = bdecode(raw)
        except (ValueError, TypeError, OverflowError, RecursionError):
            raise MetainfoError("the info dictionary is not valid bencoding") from None
        if not isinstance(d, dict):
            raise MetainfoError("the info dictionary is not a dictionary")
        unknown = sorted(k for k in d if k not in _INFO_KEYS)
        if unknown:
            names = ", ".join(repr(k.decode("utf-8", "replace")) for k in unknown)
            raise MetainfoError(f"the info dictionary has unexpected keys: {names}")

        def get(key: bytes, kind: str) -> Any:
            if key not in d:
                raise MetainfoError(f"the info dictionary has no {key.decode()!r}")
            value = d[key]
            ok = isinstance(value, bytes) if kind == "a string" else _is_int(value)
            if not ok:
                raise MetainfoError(f"{key.decode()!r} in the info dictionary must be {kind}")
            return value

        name_b: bytes = get(b"name", "a string")
        files: tuple[FileEntry, ...] = ()
        if b"files" in d:
            if b"length" in d:
                raise MetainfoError("the info dictionary has both 'length' and 'files'")
            files = _decode_files(d[b"files"])
            length = sum(f.length for f in files)
        else:
            length = get(b"length", "an integer")
        piece_length: int = get(b"piece length", "an integer")
        pieces: bytes = get(b"pieces", "a string")
        source_b: bytes = get(b"source", "a string")
        private = False
        if b"private" in d:
            flag = get(b"private", "an integer")
            if flag != 1:
                raise MetainfoError("'private' in the info dictionary must be 1 when present")
            private = True
        try:
            name = name_b.decode("utf-8")
        except UnicodeDecodeError:
            raise MetainfoError("the file name is not valid UTF-8") from None
        try:
            source = source_b.decode("utf-8")
        except UnicodeDecodeError:
            raise MetainfoError("the source (group id) is not valid UTF-8") from None
        info = cls(name, length, piece_length, pieces, source, private, files)
        if info.encode() != raw:
            raise MetainfoError("the info dictionary is not in canonical bencoding")
        return info

    # -- pieces ----------------------------------------------------------------------------

    @property
    def num_pieces(self) -> int:
        return len(self.pieces) // SHA1_LEN

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.num_pieces:
            raise IndexError(f"piece index {index} out of range (0..{self.num_pieces - 1})")

    def piece_size(self, index: int) -> int:
        """Size of piece ``index``; the last piece may be shorter."""
        self._check_index(index)
        if index == self.num_pieces - 1:
            return self.length - index * self.piece_length
        return self.piece_length

    def piece_hash(self, index: int) -> bytes:
        self._check_index(index)
        return self.pieces[index * SHA1_LEN : (index + 1) * SHA1_LEN]


def _decode_files(value: object) -> tuple[FileEntry, ...]:
    """The ``files`` list of a folder's info dictionary, each entry's shape checked (the
    paths themselves are checked by :func:`check_files`)."""
    if not isinstance(value, list) or not value:
        raise MetainfoError("'files' in the info dictionary must be a non-empty list")
    entries = []
    for item in value:
        if not isinstance(item, dict) or set(item) != _FILE_KEYS:
            raise MetainfoError("each file of a folder must have exactly 'length' and 'path'")
        length, path = item[b"length"], item[b"path"]
        if not _is_int(length):
            raise MetainfoError("the length of a file of the folder must be an integer")
        if not isinstance(path, list) or not all(isinstance(e, bytes) for e in path):
            raise MetainfoError("the path of a file of the folder must be a list of strings")
        try:
            elements = tuple(e.decode("utf-8") for e in path)
        except UnicodeDecodeError:
            raise MetainfoError("a path in the folder is not valid UTF-8") from None
        entries.append(FileEntry(elements, length))
    return tuple(entries)


# -- hashing ---------------------------------------------------------------------------------


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
    and no data is handed between threads.  Threads take chunks round-robin, so all threads
    move through the file together.  Small files and ``workers == 1`` are hashed in the
    calling thread from a single read.

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
    out = bytearray(SHA1_LEN * _num_pieces(length, piece_length))
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
    out = bytearray(SHA1_LEN * _num_pieces(length, piece_length))
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

    def piece_worker(k: int) -> None:
        try:
            buf = memoryview(bytearray(chunk))
            for c in range(k, nchunks, piece_threads):
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


# -- .torrent and magnet ---------------------------------------------------------------------


def torrent_bytes(
    info: InfoDict, announce: str, announce_list: Sequence[Sequence[str]] = ()
) -> bytes:
    """A standard v1 .torrent file for ``info``.

    The info dictionary is embedded as its exact canonical bytes.  ``announce_list`` is the
    BEP 12 list of tiers (clients that understand it ignore ``announce``, so include the
    primary tracker in it); empty tiers are dropped.  No creation date, so the output is
    deterministic.
    """
    if not announce:
        raise MetainfoError("a .torrent needs an announce URL")
    outer: dict[bytes, Any] = {
        b"announce": announce.encode("utf-8"),
        b"created by": b"minitorrent",
    }
    tiers = [[url.encode("utf-8") for url in tier] for tier in announce_list if tier]
    if tiers:
        outer[b"announce-list"] = tiers
    head: bytes = bencode(outer)
    # b"info" sorts after every other key, so it goes last: splice the exact bytes in.
    return head[:-1] + b"4:info" + info.encode() + b"e"


def private_announce_urls(tracker_urls: Sequence[str], passkey: str) -> list[str]:
    """A user's private announce URL on every tracker (base URLs, in tracker_info.txt's
    order)."""
    return [f"{url}/announce/{passkey}" for url in tracker_urls]


def private_torrent(info: InfoDict, tracker_urls: Sequence[str], passkey: str) -> bytes:
    """The .torrent a user hands to any BitTorrent client: every tracker, one per tier,
    with the user's passkey. The shell's export_torrent and the web page's download
    button both write these bytes."""
    urls = private_announce_urls(tracker_urls, passkey)
    return torrent_bytes(info, urls[0], [[url] for url in urls])


def magnet_link(info: InfoDict, trackers: Sequence[str]) -> str:
    """``magnet:?xt=urn:btih:<hex>&dn=<name>&xl=<length>&tr=<tracker>...`` (BEP 9)."""
    return magnet_of(info.info_hash_hex, info.name, info.length, trackers)


def magnet_of(info_hash_hex: str, name: str, length: int, trackers: Sequence[str]) -> str:
    """magnet_link from what a file listing has, without decoding its info dictionary."""
    parts = [f"xt=urn:btih:{info_hash_hex}", f"dn={quote(name, safe='')}", f"xl={length}"]
    parts.extend(f"tr={quote(url, safe='')}" for url in trackers)
    return "magnet:?" + "&".join(parts)
