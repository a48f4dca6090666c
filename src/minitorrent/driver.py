"""Drive real tracker and client processes through their standard input.

It ships in the package because the demo (`make demo`, minitorrent/demo.py) runs
a tracker and three clients with it; the end-to-end tests and the benchmark drive
processes the same way. Fakes that only tests need live in tests/. Every wait is on
a condition with a timeout (a line appearing, a process exiting), never a bare sleep.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO

COMMAND_TIMEOUT = 60.0


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


_EPHEMERAL_LOW, _ = _ephemeral_range()
# Ports are handed out below the kernel's ephemeral range: a port taken from that range
# (bind to port 0) can be given to some process's outgoing connection before our server
# binds it, which made "Address already in use" a flaky failure. Each process walks the
# range from its own random start so parallel test workers rarely meet.
_PORT_FLOOR = 10000
_next_ports = itertools.count(random.randrange(_PORT_FLOOR, max(_PORT_FLOOR + 1, _EPHEMERAL_LOW)))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP and UDP port on ``host`` that nothing holds now and the kernel will not pick."""
    span = max(1, _EPHEMERAL_LOW - _PORT_FLOOR)
    for _ in range(span):
        port = _PORT_FLOOR + (next(_next_ports) - _PORT_FLOOR) % span
        if _bindable(host, port):
            return port
    raise OSError(f"no free port on {host} below {_EPHEMERAL_LOW}")


def _bindable(host: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def password_of(user_id: str) -> str:
    """The password test and demo users get (tests/conftest.py ``make_users``)."""
    return f"{user_id}-password"


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(delay)  # polling interval of a condition wait, not synchronisation
        delay = min(delay * 2, 0.2)


class Process:
    """A child process whose output lines are collected by reader threads."""

    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        merge_stderr: bool = True,
        cwd: Path | None = None,
        stdin: int | IO[bytes] = subprocess.PIPE,
    ) -> None:
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self.args = args
        self.popen = subprocess.Popen(
            args,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self.lines: list[str] = []
        self.err_lines: list[str] = []
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.popen.stdout, self.lines), daemon=True)
        ]
        if not merge_stderr:
            self._readers.append(
                threading.Thread(
                    target=self._read, args=(self.popen.stderr, self.err_lines), daemon=True
                )
            )
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object, sink: list[str]) -> None:
        assert stream is not None
        for line in stream:  # type: ignore[attr-defined]
            with self._cond:
                sink.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for_line(self, pattern: str, *, start: int = 0, timeout: float = 30.0) -> int:
        """Index of the first line from `start` on that matches the regex."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.lines)):
                    if regex.search(self.lines[i]):
                        return i
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.popen.poll() is not None and not self._alive_readers()):
                    raise AssertionError(
                        f"no line matching {pattern!r} within {timeout} s; output:\n"
                        + "\n".join(self.lines[-40:])
                    )
                self._cond.wait(min(remaining, 0.5))

    def _alive_readers(self) -> bool:
        return any(r.is_alive() for r in self._readers)

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def close_stdin(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()

    def wait(self, timeout: float = 30.0) -> int:
        code = self.popen.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def limit_file_size(self, size: int | None) -> None:
        """Set the running process's RLIMIT_FSIZE soft limit (None: unlimited): a write
        past `size` bytes into any file fails, as on a disk that filled up. The hard
        limit is left alone, so that an unprivileged test can lift the limit again."""
        soft = resource.RLIM_INFINITY if size is None else size
        _, hard = resource.prlimit(self.popen.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.popen.pid, resource.RLIMIT_FSIZE, (soft, hard))

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def stop(self) -> None:
        """Best-effort clean-up at the end of a test."""
        stop_all([self])


def stop_all(procs: Iterable[Process], timeout: float = 15.0) -> None:
    """Best-effort clean-up of several processes at once: SIGTERM to all, then wait."""
    running = [p for p in procs if p.popen.poll() is None]
    for proc in running:
        proc.popen.send_signal(signal.SIGTERM)
    for proc in running:
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def minitorrent(*args: str) -> list[str]:
    return [sys.executable, "-m", "minitorrent", *args]


class Tracker(Process):
    def __init__(
        self,
        info_file: Path,
        number: int,
        db_url: str,
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            minitorrent("tracker", str(info_file), str(number), "--db", db_url, *extra), env=env
        )
        self.wait_for_line(r"listening on", timeout=30)

    def quit(self, timeout: float = 30.0) -> int:
        """Type ``quit`` on its standard input; the exit status."""
        self.send("quit")
        return self.wait(timeout)


_markers = itertools.count()


class Client(Process):
    """A client whose commands are run one at a time; output is collected per command."""

    def __init__(
        self,
        info_file: Path,
        state_dir: Path,
        *extra: str,
        port: int | None = None,
        host: str = "127.0.0.1",
        merge_stderr: bool = True,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdin: int | IO[bytes] = subprocess.PIPE,  # or a file, /dev/null: no `send` then
        prefix: Sequence[str] = (),  # runs the client under this, e.g. `ip netns exec NS`
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        super().__init__(
            [
                *prefix,
                *minitorrent(
                    "client",
                    f"{host}:{self.port}",
                    str(info_file),
                    "--state-dir",
                    str(state_dir),
                    *extra,
                ),
            ],
            merge_stderr=merge_stderr,
            env=env,
            cwd=cwd,
            stdin=stdin,
        )
        self.lines_sent = 0  # script lines so far: error lines name theirs

    def send(self, line: str) -> None:
        self.lines_sent += line.count("\n") + 1
        super().send(line)

    def run(self, command: str, timeout: float = COMMAND_TIMEOUT) -> list[str]:
        """Run one command; return the lines it printed (stdout and stderr)."""
        return self.submit(command)(timeout)

    def submit(self, command: str) -> Callable[[float], list[str]]:
        """Send a command without waiting (to do something while it runs); call what is
        returned, with a timeout, for the lines it printed."""
        marker = f"__done_{next(_markers)}__"
        start = len(self.lines)
        self.send(command)
        self.send(f"echo {marker}")

        def output(timeout: float = COMMAND_TIMEOUT) -> list[str]:
            end = self.wait_for_line(re.escape(marker), start=start, timeout=timeout)
            return self.lines[start:end]

        return output

    def ok(self, command: str, timeout: float = COMMAND_TIMEOUT) -> list[str]:
        """Run a command that must succeed."""
        out = self.run(command, timeout)
        errors = [line for line in out if line.startswith("error:")]
        assert not errors, f"{command!r} failed: {errors}"
        return out

    def fails(self, command: str, reason: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a command that must fail with exactly one error line matching `reason`.

        A script's error line names the failing line (``error: line 7: why``): that number
        is checked here, and `reason` is matched against ``error: why`` (what a person
        at the terminal sees), which is also what is returned."""
        where = f"error: line {self.lines_sent + 1}: "
        out = self.run(command, timeout)
        errors = [line for line in out if line.startswith("error:")]
        assert len(errors) == 1, f"{command!r}: expected one error line, got {out}"
        assert errors[0].startswith(where), f"{command!r}: {errors[0]!r} does not start {where!r}"
        error = "error: " + errors[0].removeprefix(where)
        assert re.search(reason, error), f"{command!r}: {error!r} !~ {reason!r}"
        assert not any("Traceback" in line for line in out), out
        return error

    def quit(self, timeout: float = 30.0) -> int:
        self.send("quit")
        return self.wait(timeout)

    def script(self, lines: list[str], timeout: float = 30.0) -> int:
        """Pipe a whole script in, close standard input; the exit status."""
        assert self.popen.stdin is not None
        self.lines_sent += len(lines)
        self.popen.stdin.write("".join(line + "\n" for line in lines))
        self.close_stdin()
        return self.wait(timeout)
