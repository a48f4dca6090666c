"""The benchmark (bench/, `make bench`) keeps working: a quick run of W1 and W2."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

EXPECTED = [
    ("W1 hashing", "build_info"),
    ("W1 hashing", "hash_file"),
    ("W2 1 seeder → 1 downloader", "wall time"),
    ("W2 1 seeder → 1 downloader", "throughput"),
    ("W2 1 seeder → 1 downloader", "downloader CPU"),
    ("W2 1 seeder → 1 downloader", "seeder CPU"),
    ("W2 1 seeder → 1 downloader", "downloader peak RSS"),
    ("W2 1 seeder → 1 downloader", "downloader peak RssAnon"),
]


@pytest.mark.slow
def test_quick_benchmark_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "report" / "performance.md"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    command = [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "w1,w2"]
    proc = subprocess.Popen(
        [*command, "--output", str(out)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ, TMPDIR=str(scratch)),
        start_new_session=True,  # so that a timeout can stop everything it started
    )
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the benchmark cleans up on SIGTERM
        try:
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"the quick benchmark took more than 240 s:\n{stderr[-3000:]}")
    assert proc.returncode == 0, stdout + stderr[-3000:]
    text = out.read_text()
    assert "bench/run.py --quick --only w1,w2" in text  # the command that produced it
    assert re.search(r"cores: \d+", text) and "load average" in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| W")]
    for workload, metric in EXPECTED:
        found = [r for r in rows if r[0].startswith(f"| {workload}") and r[1].startswith(metric)]
        assert len(found) == 1, f"no row {workload} / {metric} in:\n{text}"
        mine = found[0][2]
        assert re.fullmatch(r"[\d.]+", mine), f"{workload} / {metric}: {mine!r}"
    assert list(scratch.iterdir()) == [], "the benchmark left temporary files behind"
