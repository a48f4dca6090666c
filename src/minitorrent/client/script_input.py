"""The command lines of a script: standard input that is not a terminal, or a file.

Standard input may be a pipe, a regular file (``< script.txt``), ``/dev/null`` or a
socket. An event loop can watch only some of these (uvloop aborts the process on a
regular file), so one daemon thread reads them all with plain ``os.read`` and hands
the bytes to the loop. A blocked read never holds the interpreter up at exit: the
thread is a daemon and ``os.read`` takes no Python lock.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator

CHUNK = 1 << 16


def _read_into(fd: int, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes]) -> None:
    """Thread body: every chunk read from `fd`, then b"" at end of input or error."""
    while True:
        try:
            chunk = os.read(fd, CHUNK)
        except OSError:
            chunk = b""  # unreadable (EIO on a lost terminal): the same as end of input
        try:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
        except RuntimeError:  # the loop has closed: nobody is reading any more
            return
        if not chunk:
            return


async def numbered_lines(fd: int) -> AsyncIterator[tuple[int, str]]:
    """(line number, text) of each line read from `fd`, as soon as it is complete;
    numbered from 1 as an editor numbers them, blank and comment lines included."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    threading.Thread(
        target=_read_into, args=(fd, loop, queue), name="script-input", daemon=True
    ).start()
    pending = b""
    number = 0
    while chunk := await queue.get():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            number += 1
            yield number, raw.decode("utf-8", errors="replace")
    if pending:  # a last line without its newline
        yield number + 1, pending.decode("utf-8", errors="replace")
