"""Run the load generator (tests/load/loadgen.py) from a test, and read what it says."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from minitorrent.driver import Process

ROOT = Path(__file__).resolve().parents[2]  # so that `-m tests.load.loadgen` imports


def start_loadgen(mode: str, port: int, *args: str) -> Process:
    """The load generator in `mode` against the tracker on 127.0.0.1:`port`."""
    command = [sys.executable, "-m", "tests.load.loadgen", mode, "--port", str(port), *args]
    return Process(command, cwd=ROOT)


def result_of(gen: Process, timeout: float) -> dict[str, object]:
    """The load generator's final `result {json}` line, once it has exited."""
    line = gen.lines[gen.wait_for_line(r"^result ", timeout=timeout)]
    assert gen.wait(30) == 0, gen.lines[-20:]
    result: dict[str, object] = json.loads(line.removeprefix("result "))
    return result


def rss(pid: int) -> int:
    """Resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")
