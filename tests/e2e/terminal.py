"""A client driven through a pseudo-terminal as a person drives it: real key presses in
(pexpect), and the screen out as a VT100 terminal shows it (pyte), which also answers
the terminal's reports (cursor position) as a real terminal does."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pyte

from minitorrent.driver import free_port

PROMPT = "minitorrent> "
KEYS = {
    "enter": "\r",
    "tab": "\t",
    "up": "\x1b[A",
    "ctrl-c": "\x03",
    "ctrl-d": "\x04",
    "ctrl-u": "\x15",
}


class Terminal:
    def __init__(
        self, args: list[str], *, rows: int = 50, cols: int = 160, cwd: Path | None = None
    ) -> None:
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.screen.write_process_input = self._answer
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        self.child = pexpect.spawn(
            args[0],
            args[1:],
            env=env | {"TERM": "xterm-256color"},
            dimensions=(rows, cols),
            cwd=cwd,
        )
        self.log: list[bytes] = []  # everything the client wrote, to look at after a failure

    def _answer(self, data: str) -> None:
        self.child.send(data.encode())

    # -- keys ------------------------------------------------------------------------

    def type(self, text: str) -> None:
        self.child.send(text.encode())

    def press(self, *keys: str) -> None:
        for key in keys:
            self.child.send(KEYS[key].encode())

    def line(self, text: str) -> None:
        """Type a command line and press Enter."""
        self.type(text)
        self.press("enter")

    # -- screen ----------------------------------------------------------------------

    def text(self) -> str:
        return "\n".join(row.rstrip() for row in self.screen.display).rstrip("\n")

    def cursor_row(self) -> str:
        return self.screen.display[self.screen.cursor.y].rstrip()

    def _read(self, timeout: float) -> None:
        try:
            data = self.child.read_nonblocking(1 << 16, timeout)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            raise AssertionError(f"the client ended; screen:\n{self.text()}") from None
        self.log.append(data)
        self.stream.feed(data)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first match of the regex (multi-line) on the screen, once there is one."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while (match := regex.search(self.text())) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} on screen in {timeout} s:\n{self.text()}")
            self._read(0.1)  # returns as soon as the client writes
        return match

    def wait_for_prompt(self, typed: str = "", timeout: float = 30.0) -> None:
        """Until the cursor is on a prompt that shows exactly `typed`."""
        deadline = time.monotonic() + timeout
        while self.cursor_row() != (PROMPT + typed).rstrip():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no prompt {PROMPT + typed!r} at the cursor in {timeout} s "
                    f"(cursor row {self.cursor_row()!r}):\n{self.text()}"
                )
            self._read(0.1)

    def run(self, command: str, timeout: float = 30.0) -> str:
        """Run a command; what it printed (the rows between its line and the next prompt)."""
        self.wait_for_prompt()
        self.line(command)
        self.wait_for(re.escape(PROMPT + command), timeout)
        self.wait_for_prompt(timeout=timeout)
        rows = [row.rstrip() for row in self.screen.display[: self.screen.cursor.y]]
        start = len(rows) - rows[::-1].index(PROMPT + command)
        return "\n".join(rows[start:])

    # -- end -------------------------------------------------------------------------

    def exit_status(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.child.isalive():
            if time.monotonic() > deadline:
                raise AssertionError(f"the client did not exit:\n{self.text()}")
            with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF):
                self.log.append(self.child.read_nonblocking(1 << 16, 0.1))
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else -1)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


def client_args(tracker_info: Path, state_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "minitorrent",
        "client",
        f"127.0.0.1:{free_port()}",
        str(tracker_info),
        "--state-dir",
        str(state_dir),
        "--announce-interval",
        "2",
        *extra,
    ]
