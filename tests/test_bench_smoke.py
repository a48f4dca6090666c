"""The benchmark (bench/, `make bench`) keeps working: quick runs, --shape, the charts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bench.charts import GROWTH_SVG, TARGETS_SVG, draw, score, targeted
from bench.cli import parse_shape
from bench.common import QUICK, MiB, Row, Shape, Target

REPO = Path(__file__).resolve().parent.parent

EXPECTED = [
    ("W1 hashing", "build_info (what upload_file runs)"),
    ("W1 hashing", "hash_file"),
    ("W1 hashing", "build_info user CPU"),
    ("W1 hashing", "build_info kernel CPU"),
    ("W2 1 seeder → 1 downloader", "time to durable completion"),
    ("W2 1 seeder → 1 downloader", "time to completion, reference in the page cache only"),
    ("W2 1 seeder → 1 downloader", "throughput"),
    ("W2 1 seeder → 1 downloader", "downloader user CPU"),
    ("W2 1 seeder → 1 downloader", "downloader kernel CPU"),
    ("W2 1 seeder → 1 downloader", "seeder user CPU"),
    ("W2 1 seeder → 1 downloader", "seeder kernel CPU"),
    ("W2 1 seeder → 1 downloader", "downloader peak RSS"),
    ("W2 1 seeder → 1 downloader", "downloader peak RssAnon"),
]


def quick_run(tmp_path: Path, *args: str) -> str:
    """``bench/run.py --quick ARGS`` into tmp_path; the report's text (the charts beside it)."""
    out = tmp_path / "report" / "performance.md"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    command = [sys.executable, str(REPO / "bench" / "run.py"), "--quick", *args]
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
    assert list(scratch.iterdir()) == [], "the benchmark left temporary files behind"
    assert not list(Path("/dev/shm").glob("minitorrent-bench-warm-*")), "warm-up file left"
    return out.read_text()


def figures(text: str, workload: str, metric: str) -> list[str]:
    """The row's cells, exactly one row expected."""
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| W")]
    found = [r for r in rows if r[0].startswith(f"| {workload}") and r[1].startswith(metric)]
    assert len(found) == 1, f"no row {workload} / {metric} in:\n{text}"
    return found[0]


def assert_svg(path: Path, text: str) -> None:
    assert f"]({path.name})" in text, f"the report does not show {path.name}"
    svg = path.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "SMOKE RUN" in svg  # a quick run's chart says so in its title


@pytest.mark.slow
def test_quick_benchmark_writes_the_table_and_the_targets_chart(tmp_path: Path) -> None:
    text = quick_run(tmp_path, "--only", "w1,w2")
    assert "bench/run.py --quick --only w1,w2" in text  # the command that produced it
    assert re.search(r"cores: \d+", text) and "load average" in text
    assert "Smoke run (`--quick`)" in text
    assert "Memory warmed once at the start" in text
    assert "| ratio (minitorrent / reference) | target |" in text
    for workload, metric in EXPECTED:
        mine = figures(text, workload, metric)[2]
        assert re.fullmatch(r"[\d.]+", mine), f"{workload} / {metric}: {mine!r}"
    assert figures(text, "W1 hashing", "build_info (what")[-1] == "ratio ≤ 0.8 |"
    assert figures(text, "W2 1 seeder", "time to durable")[-1] == "ratio ≤ 0.5 |"
    assert figures(text, "W2 1 seeder", "downloader peak RSS")[-1] == "minitorrent ≤ 40 |"
    assert_svg(tmp_path / "report" / "performance-targets.svg", text)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the shaped network needs root (namespaces, tc)")
def test_quick_shaped_swarm_at_a_given_shape_and_the_growth_curve(tmp_path: Path) -> None:
    text = quick_run(tmp_path, "--only", "w3s,w3g", "--shape", "N=2,rate=40,size=2")
    row = figures(text, "W3s 1 seeder → 2 downloaders, 2 MiB, 40 Mbit/s uploads", "time / T_min")
    assert re.fullmatch(r"[\d.]+", row[2]) and row[-1] == "minitorrent ≤ 1.25 |"
    for n in (2, 4):  # the quick growth series
        row = figures(text, f"W3 growth 1 seeder → {n} downloaders, 1 MiB", "time / T_min")
        assert re.fullmatch(r"[\d.]+", row[2]), row
    assert_svg(tmp_path / "report" / "performance-w3-growth.svg", text)


@pytest.mark.slow
def test_quick_folders_benchmark_hashes_and_transfers_both_folders(tmp_path: Path) -> None:
    text = quick_run(tmp_path, "--only", "w5", "--runs", "1")
    for shape in QUICK.w5:
        hashing = f"W5 hashing a folder of {shape.describe()}"
        transfer = f"W5 1 seeder → 1 downloader, a folder of {shape.describe()}"
        for workload, metric in [
            (hashing, "build_folder_info (what upload_file runs)"),
            (hashing, "build_folder_info user CPU"),
            (transfer, "time to durable completion"),
            (transfer, "throughput"),
            (transfer, "downloader peak RSS"),
        ]:
            row = figures(text, workload, metric)
            assert re.fullmatch(r"[\d.]+", row[2]), f"{workload} / {metric}: {row[2]!r}"
            assert row[3] in ("mktorrent -t 2", "libtorrent"), row
    assert "W5: two folders of random files" in text  # how it is measured


def test_shape_option_reads_n_rate_size_and_refuses_the_rest() -> None:
    default = QUICK.w3s
    assert parse_shape("N=12,rate=50,size=128", default) == Shape(12, 50.0, 128 * MiB)
    assert parse_shape("rate=20.5", default) == Shape(default.peers, 20.5, default.size)
    for bad, why in [
        ("N=x", "'N=x': 'x' is not a number"),
        ("speed=4", "'speed=4' is not one of N=, rate=, size="),
        ("N=0", "'N=0': N must be between 1 and 200"),
        ("size", "'size' is not one of N=, rate=, size="),
    ]:
        with pytest.raises(ValueError) as refused:
            parse_shape(bad, default)
        assert str(refused.value) == why
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--shape", "N=-1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "bench/run.py: error: --shape: 'N=-1': N must be between 1 and 200"
    )


def test_t_min_is_the_seeders_or_the_swarms_bound() -> None:
    # 8 downloaders: the swarm must move 8 copies with 9 uploads, less than the seeder's one.
    assert Shape(8, 80, 64 * MiB).t_min() == pytest.approx(64 * MiB / 10e6)
    # 1 downloader: it gets everything from the seeder, one copy at the seeder's rate.
    assert Shape(1, 8, 10 * MiB).t_min() == pytest.approx(10 * MiB / 1e6)


def test_charts_put_each_figure_against_its_target(tmp_path: Path) -> None:
    met = Row("W9 x", "time, s", "ref", "lower", Target("ratio", "≤", 0.5), [1.0, 1.2], [4.0, 4.0])
    missed = Row("W9 y", "rate", "ref", "higher", Target("ratio", "≥", 1.0), [1.0], [2.0])
    untargeted = Row("W9 z", "other", "ref", "lower", None, [1.0], [1.0])
    assert [row for row, _, _ in targeted([met, missed, untargeted])] == [met, missed]
    assert score(Target("ratio", "≤", 0.5), 0.25) == pytest.approx(0.5)  # met: below 1
    assert score(Target("ratio", "≥", 1.0), 0.5) == pytest.approx(2.0)  # missed: above 1
    growth = [(4, [1.3, 1.4], [1.8]), (8, [1.4], [])]
    names, why = draw([met, missed, untargeted], growth, tmp_path, quick=False)
    assert (names, why) == ([TARGETS_SVG, GROWTH_SVG], "")
    targets = (tmp_path / TARGETS_SVG).read_text()
    assert "target ≤ 0.5" in targets and "target ≥ 1" in targets and "W9 z" not in targets
    assert "SMOKE RUN" not in targets
    first = (tmp_path / GROWTH_SVG).read_bytes()
    draw([met, missed, untargeted], growth, tmp_path, quick=False)
    assert (tmp_path / GROWTH_SVG).read_bytes() == first  # no date, no random ids
    assert draw([untargeted], [], tmp_path / "none", quick=True) == ([], "")
