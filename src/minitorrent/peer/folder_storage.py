"""The data of a shared folder on disk: pieces mapped onto several files.

A folder's pieces cut the stream of its files back to back, so one piece may span
several files: each range is split into per-file segments
(:meth:`minitorrent.file_list.Layout.spans`) and each segment is one ``os.pwritev`` or
``os.preadv`` on that file.  The single-file path (:class:`PieceStorage`) is untouched.

Never outside the destination: every file is reached from the folder's own descriptor,
one path element at a time, with ``O_NOFOLLOW`` (a symbolic link planted inside the
folder is refused, not followed), and the paths were checked when the info dictionary
was parsed.  A download is written into ``<name>.part/`` (created by us, exclusively;
its folders follow the umask) and renamed into place at completion without replacing
anything (``renameat2(RENAME_NOREPLACE)``).

Part of a folder (``download_file --only``): the files not wanted (``skip``) are never
created; their bytes in wanted pieces go to a :mod:`~minitorrent.peer.parts_file`.

Descriptors of members are opened when first used and kept up to ``MAX_OPEN``, the least
recently used idle one closed beyond that, so a folder of many thousands of files does not
run the process out of descriptors and the blocks of one piece reuse one descriptor.
Creating, opening and flushing a folder walk its files in order, keeping the last folder's
descriptor: a few system calls per file, not one per path element.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import shutil
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from minitorrent.errors import StorageError
from minitorrent.file_list import Layout
from minitorrent.metainfo import InfoDict, hash_stream
from minitorrent.peer.parts_file import PartsFile
from minitorrent.peer.storage import (
    Buffer,
    PieceIO,
    PieceStorage,
    _advance,
    _read_error,
    _views,
    _write_error,
)

if TYPE_CHECKING:
    import ctypes

__all__ = [
    "FolderStorage",
    "Storage",
    "create_storage",
    "move_folder_into_place",
    "move_into_place",
    "open_storage",
]

MAX_OPEN = 128
#: From this many files on, a folder is flushed with one syncfs (see FolderStorage.sync).
SYNCFS_FROM = 64
_IOV_MAX = 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class FolderStorage(PieceIO):
    """The files of one folder :class:`InfoDict` below one directory."""

    def __init__(
        self,
        root_fd: int,
        path: str,
        info: InfoDict,
        *,
        writable: bool,
        skip: frozenset[int] = frozenset(),
    ) -> None:
        self._root = root_fd
        self.path = path
        self.info = info
        self.writable = writable
        self.layout = Layout(info.files)
        self.skip = skip  # files not wanted: never created (see the module docstring)
        self._parts: PartsFile | None = None  # if a piece spans wanted and skipped files
        self._fds: OrderedDict[int, int] = OrderedDict()  # least recently used first
        self._busy: dict[int, int] = {}  # file index -> threads using its descriptor
        self._lock = threading.Lock()
        self._verify_buf: memoryview | None = None

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], info: InfoDict, *, skip: frozenset[int] = frozenset()
    ) -> FolderStorage:
        """Create the folder (never an existing one) and its wanted files, sparse."""
        shown = os.fspath(path)
        free = shutil.disk_usage(os.path.dirname(shown) or ".").free
        needed = sum(e.length for i, e in enumerate(info.files) if i not in skip)
        if free < needed:
            raise StorageError(
                f"not enough disk space for {shown} ({needed} bytes needed, {free} free)"
            )
        try:
            os.mkdir(path)  # mode 0777 less the umask
        except FileExistsError:
            raise StorageError(f"{shown} already exists; refusing to overwrite it") from None
        except OSError as exc:
            raise StorageError(f"cannot create {shown}: {exc.strerror or exc}") from None
        storage = cls(os.open(path, _DIR_FLAGS), shown, info, writable=True, skip=skip)
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            with _Folders(storage.root_fd, create=True) as folders:
                for index, entry in enumerate(info.files):
                    if index in skip:
                        continue
                    parent = folders.of(entry.path)
                    fd = os.open(entry.path[-1], flags, 0o644, dir_fd=parent)
                    try:
                        if entry.length:
                            os.ftruncate(fd, entry.length)
                    finally:
                        os.close(fd)
            storage._parts = PartsFile.open(shown, info, skip)
        except OSError as exc:
            storage.close()
            raise _write_error(exc, shown) from None
        except BaseException:
            storage.close()
            raise
        return storage

    @classmethod
    def open_existing(
        cls,
        path: str | os.PathLike[str],
        info: InfoDict,
        *,
        writable: bool,
        skip: frozenset[int] = frozenset(),
    ) -> FolderStorage:
        """Open an existing folder: read-only to seed, read/write to resume; every file
        not in ``skip`` must be a regular file of its size."""
        shown = os.fspath(path)
        try:
            root = os.open(path, _DIR_FLAGS)
        except FileNotFoundError:
            raise StorageError(f"no such folder: {shown}") from None
        except NotADirectoryError:
            raise StorageError(f"{shown} is not a folder") from None
        except OSError as exc:
            raise StorageError(f"cannot open {shown}: {exc.strerror or exc}") from None
        storage = cls(root, shown, info, writable=writable, skip=skip)
        try:
            with _Folders(root) as folders:
                for index, entry in enumerate(info.files):
                    if index in skip:
                        continue
                    fd = storage._open_member(index, folders.of(entry.path))
                    try:
                        st = os.fstat(fd)
                    finally:
                        storage._keep(index, fd)
                    if not stat.S_ISREG(st.st_mode) or st.st_size != entry.length:
                        raise StorageError(
                            f"{shown}/{entry.relative} is not the shared file "
                            f"({entry.length} bytes)"
                        )
            storage._parts = PartsFile.open(shown, info, skip)
        except OSError as exc:
            storage.close()
            raise StorageError(f"cannot open a file of {shown}: {exc.strerror or exc}") from None
        except BaseException:
            storage.close()
            raise
        return storage

    # -- members ------------------------------------------------------------------------

    def _open_member(self, index: int, parent: int) -> int:
        """Open file ``index`` in its folder ``parent`` (a descriptor; links refused)."""
        flags = (os.O_RDWR if self.writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.open(self.info.files[index].path[-1], flags | os.O_NONBLOCK, dir_fd=parent)

    def _keep(self, index: int, fd: int) -> None:
        """Keep ``fd`` (just opened, unused) as file ``index``'s if there is room."""
        with self._lock:
            if len(self._fds) < MAX_OPEN and index not in self._fds:
                self._fds[index] = fd
                return
        os.close(fd)

    def _acquire(self, index: int) -> int:
        """File ``index``'s descriptor, kept open for the next access (give it back with
        ``_release``).  Beyond MAX_OPEN the least recently used idle descriptor is
        closed: never one another thread is reading or writing through."""
        with self._lock:
            fd = self._fds.get(index)
            if fd is None:
                parent = _walk(self.root_fd, self.info.files[index].path[:-1])
                try:
                    fd = self._open_member(index, parent)
                finally:
                    os.close(parent)
                self._fds[index] = fd
            else:
                self._fds.move_to_end(index)
            self._busy[index] = self._busy.get(index, 0) + 1
            self._close_idle()  # after marking ours busy: never the one just opened
            return fd

    def _release(self, index: int) -> None:
        with self._lock:
            users = self._busy.pop(index) - 1
            if users:
                self._busy[index] = users

    def _close_idle(self) -> None:
        """Close the least recently used idle descriptors beyond MAX_OPEN (lock held)."""
        excess = len(self._fds) - MAX_OPEN
        if excess > 0:
            idle = (i for i in self._fds if i not in self._busy)  # oldest first
            for index in list(itertools.islice(idle, excess)):
                os.close(self._fds.pop(index))

    @contextlib.contextmanager
    def _member(self, index: int) -> Iterator[int]:
        fd = self._acquire(index)
        try:
            yield fd
        finally:
            self._release(index)

    # -- state -----------------------------------------------------------------------

    @property
    def root_fd(self) -> int:
        if self._root < 0:
            raise StorageError(f"{self.path} is closed")
        return self._root

    @property
    def fd(self) -> int:
        """The folder's own descriptor: its stat changes when entries are added, removed
        or renamed, not when a file's content changes (so a seed of a folder is not told
        to trust its files by stat: each piece is re-hashed before its first upload)."""
        return self.root_fd

    @property
    def closed(self) -> bool:
        return self._root < 0

    def sync(self) -> None:
        """Flush every file of the folder to disk.

        A folder of many files gets one ``syncfs`` of its file system where the C library
        has it: one ``fdatasync`` per file waits for one journal commit each (24 s for
        10,000 small new files on this project's test machine, against 0.5-1 s for
        ``syncfs``), and ``syncfs`` also makes the new files' names durable.  A few files
        are flushed one by one: ``syncfs`` would also wait for what other programs are
        writing to that file system."""
        try:
            many = len(self.info.files) - len(self.skip) >= SYNCFS_FROM
            if not (many and _syncfs(self.root_fd)):
                for index in range(len(self.info.files)):
                    if index not in self.skip:
                        with self._member(index) as fd:
                            os.fdatasync(fd)
            if self._parts is not None:
                self._parts.sync()
        except OSError as exc:
            raise StorageError(f"cannot flush {self.path} to disk: {exc.strerror}") from None

    def close(self) -> None:
        with self._lock:
            fds, self._fds = list(self._fds.values()), OrderedDict()
        for fd in fds:
            os.close(fd)
        root, self._root = self._root, -1
        parts, self._parts = self._parts, None
        self._verify_buf = None
        if root >= 0:
            os.close(root)
        if parts is not None:
            parts.close()

    # -- I/O -------------------------------------------------------------------------

    def _segments(
        self, offset: int, buffers: Sequence[Buffer]
    ) -> Iterator[tuple[int, int, list[memoryview]]]:
        views = _views(buffers)
        total = sum(len(v) for v in views)
        if offset < 0 or offset + total > self.info.length:
            raise ValueError(f"range {offset}+{total} is outside the folder ({self.info.length})")
        for index, file_offset, size in self.layout.spans(offset, total):
            yield index, file_offset, _take(views, size)
            views = _advance(views, size)

    def write_blocks(self, offset: int, buffers: Sequence[Buffer]) -> None:
        """Write ``buffers`` back to back at ``offset``: one ``pwritev`` per file touched."""
        if not self.writable:
            raise StorageError(f"{self.path} is open read-only")
        self._each_file(offset, buffers, os.pwritev, _write_error)

    def read_into(self, offset: int, buffers: Sequence[memoryview | bytearray]) -> None:
        """Fill ``buffers`` from ``offset``: one ``preadv`` per file touched."""
        self._each_file(offset, buffers, os.preadv, _read_error)

    def _each_file(
        self,
        offset: int,
        buffers: Sequence[Buffer],
        call: Callable[[int, list[memoryview], int], int],
        error: Callable[[OSError, str], StorageError],
    ) -> None:
        skip = self.skip
        for index, file_offset, part in self._segments(offset, buffers):
            if skip and index in skip:
                self._skipped(index, file_offset, part, call)
                continue
            try:
                fd = self._acquire(index)  # not _member: a generator per block costs
                try:
                    short_at = _transfer(call, fd, part, file_offset)
                finally:
                    self._release(index)
            except OSError as exc:
                raise error(exc, self._shown(index)) from None
            if short_at is not None:
                raise StorageError(f"{self._shown(index)} shrank: no data at offset {short_at}")

    def _skipped(
        self,
        index: int,
        file_offset: int,
        part: list[memoryview],
        call: Callable[[int, list[memoryview], int], int],
    ) -> None:
        """Bytes of a file not wanted: in the parts file, at their stream offset."""
        if self._parts is None:  # no wanted piece holds any: never written
            if call is os.pwritev:
                raise StorageError(f"{self._shown(index)} is not wanted; not writing it")
            for view in part:  # read back as absent: its pieces fail their check
                view[:] = bytes(len(view))
            return
        where = self.layout.starts[index] + file_offset
        self._parts.move(lambda fd, views, at: _transfer(call, fd, views, at), part, where)

    def _shown(self, index: int) -> str:
        """The member file's name in messages (built only when one is shown)."""
        return f"{self.path}/{self.info.files[index].relative}"

    def read(self, offset: int, length: int) -> bytes:
        buf = bytearray(length)
        self.read_into(offset, [buf])
        return bytes(buf)

    def _digests(self, progress: Callable[[int], None] | None, workers: int) -> bytes:
        return hash_stream(
            lambda view, offset: self.read_into(offset, [view]),
            self.info.length,
            self.info.piece_length,
            workers=workers,
            progress=progress,
            label=self.path,
        )


def _take(views: list[memoryview], n: int) -> list[memoryview]:
    """The first ``n`` bytes of a list of views, as views."""
    out = []
    for v in views:
        if n <= 0:
            break
        out.append(v[:n])
        n -= len(out[-1])
    return out


def _transfer(
    call: Callable[[int, list[memoryview], int], int],
    fd: int,
    views: list[memoryview],
    offset: int,
) -> int | None:
    """Move all of ``views`` at ``offset``; the offset where the file gave no data, if so."""
    while views:
        n = call(fd, views[:_IOV_MAX], offset)
        if n <= 0:
            return offset
        offset += n
        views = _advance(views, n)
    return None


def _walk(root: int, folders: Sequence[str], *, create: bool = False) -> int:
    """A new descriptor of the folder ``folders`` below ``root``, one element at a time,
    links refused; ``create``: make the missing ones."""
    fd = os.dup(root)
    try:
        for element in folders:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(element, dir_fd=fd)
            inner = os.open(element, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


class _Folders:
    """The descriptor of the folder of the last file reached: a folder's files come in
    path order, so consecutive files mostly share it."""

    def __init__(self, root: int, *, create: bool = False) -> None:
        self._root = root
        self._create = create
        self._path: tuple[str, ...] | None = None
        self._fd = -1

    def of(self, path: tuple[str, ...]) -> int:
        """The folder that holds the file at ``path`` (valid until the next call)."""
        folders = path[:-1]
        if folders != self._path:
            self.close()
            self._fd = _walk(self._root, folders, create=self._create)
            self._path = folders
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._path = -1, None

    def __enter__(self) -> _Folders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.cache
def _libc() -> ctypes.CDLL:
    # ~1 MiB of a client's memory: loaded only once a folder is flushed or moved into place.
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _libc_error(*context: str) -> OSError:
    import ctypes

    code = ctypes.get_errno()
    return OSError(code, os.strerror(code), *context)


def _syncfs(fd: int) -> bool:
    """``syncfs(fd)``: flush the whole file system that holds ``fd``; False if the C
    library has no syncfs (the caller flushes file by file)."""
    call = getattr(_libc(), "syncfs", None)
    if call is None:
        return False
    if call(fd) != 0:
        raise _libc_error()
    return True


_RENAME_NOREPLACE = 1


def move_folder_into_place(part: Path, destination: Path) -> None:
    """Rename a finished folder without ever replacing what appeared at the destination."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:  # older C library: no atomic check, but rename refuses most cases
        if os.path.lexists(destination):
            raise FileExistsError(errno.EEXIST, "already exists", str(destination))
        os.rename(part, destination)
        return
    at_fdcwd = -100
    result = renameat2(
        at_fdcwd, os.fsencode(part), at_fdcwd, os.fsencode(destination), _RENAME_NOREPLACE
    )
    if result != 0:
        raise _libc_error(str(destination))


#: The data of one shared item: a single file or a folder.
Storage = PieceStorage | FolderStorage


def open_storage(
    path: str | os.PathLike[str],
    info: InfoDict,
    *,
    writable: bool,
    skip: frozenset[int] = frozenset(),
) -> Storage:
    """Open the file or folder of ``info`` (see ``open_existing`` of either); ``skip``:
    the files of a folder not wanted."""
    if info.is_folder:
        return FolderStorage.open_existing(path, info, writable=writable, skip=skip)
    return PieceStorage.open_existing(path, info, writable=writable)


def create_storage(
    path: str | os.PathLike[str], info: InfoDict, *, skip: frozenset[int] = frozenset()
) -> Storage:
    """Create the file or folder of ``info`` (never over anything)."""
    if info.is_folder:
        return FolderStorage.create(path, info, skip=skip)
    return PieceStorage.create(path, info)


def move_into_place(part: Path, destination: Path) -> None:
    """Rename a finished download (file or folder) without replacing anything."""
    if part.is_dir() and not part.is_symlink():
        move_folder_into_place(part, destination)
    else:
        os.link(part, destination)  # fails with EEXIST instead of overwriting
        os.unlink(part)
