"""The interactive shell's history file: only its owner can read it (0600 in a 0700
directory), and a line that carries a password never reaches it, nor the up arrow.

The format is prompt_toolkit's FileHistory's (``# time`` then ``+line``), so older
files load; password lines found in one (written before this rule) are dropped from it.
Disk work runs in one background thread, in order, never on the event loop.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit.history import History, ThreadedHistory

from minitorrent.client.state import PRIVATE_DIR, PRIVATE_FILE

log = logging.getLogger(__name__)


def make_private(path: Path) -> None:
    """Create `path` (empty) and its directory if missing, and restrict both to the owner."""
    directory = path.parent
    directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    st = directory.stat()
    if st.st_uid == os.getuid() and st.st_mode & 0o777 != PRIVATE_DIR:
        directory.chmod(PRIVATE_DIR)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def _entries(text: str) -> list[str]:
    """The history's entries, oldest first (multi-line entries joined)."""
    entries: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("+"):
            current = [] if current is None else current
            current.append(line[1:])
        elif current is not None:
            entries.append("\n".join(current))
            current = None
    if current is not None:
        entries.append("\n".join(current))
    return entries


def _entry(string: str) -> str:
    lines = "".join(f"+{line}\n" for line in string.split("\n"))
    return f"\n# {datetime.datetime.now()}\n{lines}"


class _PrivateFile(History):
    def __init__(self, path: Path, secret: Callable[[str], bool]) -> None:
        super().__init__()
        self.path = path
        self.secret = secret
        self._lock = threading.Lock()  # loading (and rewriting) vs appending: two threads

    def load_history_strings(self) -> Iterable[str]:
        with self._lock:
            return self._load()

    def _load(self) -> Iterable[str]:
        try:
            make_private(self.path)
            entries = _entries(self.path.read_bytes().decode("utf-8", errors="replace"))
            kept = [e for e in entries if not self.secret(e)]
            if len(kept) != len(entries):
                self._rewrite(kept)
        except OSError as exc:
            log.warning("cannot use the shell history %s: %s", self.path, exc.strerror)
            return []
        return reversed(kept)  # newest first

    def _rewrite(self, entries: list[str]) -> None:
        fresh = self.path.with_name(self.path.name + ".new")
        fresh.unlink(missing_ok=True)
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(_entry(e) for e in entries))
        fresh.replace(self.path)

    def store_string(self, string: str) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        with self._lock:
            fd = os.open(self.path, flags, PRIVATE_FILE)
            with os.fdopen(fd, "a", encoding="utf-8", errors="replace") as f:
                f.write(_entry(string))


class ShellHistory(ThreadedHistory):
    """History for the prompt: loaded and written in a background thread."""

    def __init__(self, path: Path, secret: Callable[[str], bool]) -> None:
        super().__init__(_PrivateFile(path, secret))
        self.secret = secret
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "history")

    def append_string(self, string: str) -> None:
        if not self.secret(string):
            super().append_string(string)

    def store_string(self, string: str) -> None:
        self._writer.submit(self.history.store_string, string).add_done_callback(_log_failure)

    def close(self) -> None:
        """Wait for the lines still being written."""
        self._writer.shutdown(wait=True)


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("cannot write the shell history: %s", exc)
