"""The benchmark's command line: run the workloads, print the table, write docs/performance.md."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import (
    charts,
    w1_hash,
    w2_pair,
    w3_shaped,
    w3_swarm,
    w4_tracker,
    w5_folders,
    w6_web,
)
from bench.common import (
    FULL,
    QUICK,
    REPO,
    BenchError,
    Context,
    MiB,
    Row,
    Shape,
    Sizes,
    fmt,
    libtorrent_version,
    package_version,
    summary,
    warm_memory,
)

WORKLOADS: dict[str, Callable[[Context], list[Row]]] = {
    "w1": w1_hash.run,
    "w2": w2_pair.run,
    "w3": w3_swarm.run,
    "w3s": w3_shaped.run,
    "w3g": w3_shaped.run_growth,
    "w4": w4_tracker.run,
    "w5": w5_folders.run,
    "w6": w6_web.run,
}
TITLES = {
    "w1": "W1 hashing",
    "w2": "W2 one-to-one",
    "w3": "W3 swarm (loopback)",
    "w3s": "W3s swarm (shaped network)",
    "w3g": "W3 growth (shaped network)",
    "w4": "W4 tracker",
    "w5": "W5 folders",
    "w6": "W6 web pages",
}
SHAPE_KEYS = {"n": "peers", "rate": "rate_mbit", "size": "size"}
SHAPE_LIMITS = {"peers": (1, 200), "rate_mbit": (0.1, 10000.0), "size": (1, 4096)}


def parse_shape(text: str, default: Shape) -> Shape:
    """``N=12,rate=50,size=128`` (downloaders, Mbit/s, MiB); keys left out keep the default."""
    values: dict[str, float] = {
        "peers": default.peers,
        "rate_mbit": default.rate_mbit,
        "size": default.size // MiB,
    }
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        name = SHAPE_KEYS.get(key.strip().lower())
        if not sep or name is None:
            raise ValueError(f"{part!r} is not one of N=, rate=, size=")
        try:
            number = float(value) if name == "rate_mbit" else int(value)
        except ValueError:
            raise ValueError(f"{part!r}: {value.strip()!r} is not a number") from None
        low, high = SHAPE_LIMITS[name]
        if not low <= number <= high:
            raise ValueError(f"{part!r}: {key.strip()} must be between {low:g} and {high:g}")
        values[name] = number
    return Shape(int(values["peers"]), values["rate_mbit"], int(values["size"]) * MiB)


def memory_wanted(sizes: Sizes, only: list[str]) -> int:
    """Enough to warm what the selected workloads write: their source files (one per size),
    the biggest leg's copies, and room for the processes of the biggest swarm."""
    growth = sizes.w3g
    folders = [shape.files * shape.high for shape in sizes.w5]  # at most
    sources = {
        "w1": [sizes.w1],
        "w2": [sizes.w2],
        "w3": [sizes.w3],
        "w3s": [sizes.w3s.size],
        "w3g": [shape.size for shape in growth],
        "w5": folders,
    }
    copies = {
        "w2": sizes.w2,
        "w3": sizes.w3 * sizes.w3_peers,
        "w3s": sizes.w3s.size * sizes.w3s.peers,
        "w3g": max((shape.size * shape.peers for shape in growth), default=0),
        "w5": max(folders, default=0),
    }
    peers = {
        "w2": 1,
        "w3": sizes.w3_peers,
        "w3s": sizes.w3s.peers,
        "w3g": max((shape.peers for shape in growth), default=0),
        "w5": 1,
    }
    files = sum({size for name in only for size in sources.get(name, [])})
    biggest = max((copies.get(name, 0) for name in only), default=0)
    processes = max((peers.get(name, 0) for name in only), default=0) + 2
    return files + biggest + processes * 64 * MiB


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="minitorrent against libtorrent, mktorrent and opentracker, side by side.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one run (CI's smoke test)"
    )
    parser.add_argument("--runs", type=int, help="runs per workload (default 3; --quick: 1)")
    parser.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help=f"comma-separated workloads among {','.join(WORKLOADS)} (default: all)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "docs" / "performance.md",
        help="where to write the report (default docs/performance.md)",
    )
    parser.add_argument(
        "--shape",
        help="W3s at another shape: N=downloaders,rate=Mbit/s,size=MiB, e.g. "
        "N=12,rate=50,size=128 (keys left out keep the default)",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    args.sizes = QUICK if args.quick else FULL
    if args.shape is not None:
        try:
            shape = parse_shape(args.shape, args.sizes.w3s)
        except ValueError as exc:
            parser.error(f"--shape: {exc}")
        args.sizes = dataclasses.replace(args.sizes, w3s=shape)
    args.only = [w.strip().lower() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in args.only if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose among {list(WORKLOADS)}")
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def log(text: str) -> None:
    load = os.getloadavg()[0]
    print(
        f"[bench {time.strftime('%H:%M:%S')} load {load:.1f}] {text}", file=sys.stderr, flush=True
    )


def raise_fd_limit() -> None:
    """1,000 connections (W4) need more than the usual 1,024 descriptors per process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def machine() -> list[str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    return [
        f"cores: {os.cpu_count()} ({model})",
        f"memory: {mem}",
        f"Python: {platform.python_version()} ({sys.executable})",
        f"kernel: {platform.system()} {platform.release()}",
        f"references: libtorrent {libtorrent_version()} (PyPI), "
        f"mktorrent {package_version('mktorrent')}, opentracker "
        f"{package_version('opentracker')}, wrk {package_version('wrk')} (Debian)",
    ]


def table(rows: list[Row]) -> list[str]:
    out = [
        "| workload | metric | minitorrent | reference | reference's figure "
        "| ratio (minitorrent / reference) | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.error:
            mine = ref = ratio = "failed (see below)"
        else:
            mine = summary(row.mine)
            ref = "n/a (see below)" if row.ref_missing else summary(row.ref)
            ratio = summary(row.ratios()) if row.ratios() else "n/a"
        metric = f"{row.metric} ({row.better} is better)" if row.metric else ""
        out.append(
            f"| {row.workload} | {metric} | {mine} | {row.reference} | {ref} "
            f"| {ratio} | {row.target or ''} |"
        )
    return out


def problems(rows: list[Row]) -> list[str]:
    """Why some figures are missing, each reason once."""
    seen: dict[str, None] = {}
    for row in rows:
        if row.error:
            seen[f"{row.workload}: failed: {row.error}"] = None
        elif row.ref_missing:
            seen[f"{row.workload}: no reference figure: {row.ref_missing}"] = None
    return list(seen)


def report(
    args: argparse.Namespace,
    rows: list[Row],
    ctx: Context,
    started: str,
    seconds: float,
    pictures: list[str],
) -> str:
    loads = ctx.loads or [os.getloadavg()]
    first = " / ".join(f"{x:.2f}" for x in loads[0])
    during = [a for a, _, _ in loads[1:]] or [loads[0][0]]
    lines = [
        "# Performance",
        "",
        "Written by the benchmark (`make bench`, see README.md); do not edit by hand.",
        "",
        f"Command: `{shlex.join(sys.orig_argv)}` (in {Path.cwd()})",
        "",
        f"Run: {started}, {seconds / 60:.1f} min, {args.runs} run(s) per workload"
        + (", quick mode (tiny sizes)" if args.quick else ""),
        "",
        "Machine:",
        "",
        *[f"- {m}" for m in machine()],
        f"- load average before the start (1 / 5 / 15 min): {first}; during the run (1 min, "
        f"{len(during)} samples, the benchmark's own processes included): median "
        f"{statistics.median(during):.2f}, max {max(during):.2f}",
        "",
        *(
            [
                "**Smoke run (`--quick`): tiny sizes on whatever machine ran it; these figures "
                "are not measurements.**",
                "",
            ]
            if args.quick
            else []
        ),
        *[f"![{name.removesuffix('.svg')}]({name})\n" for name in pictures],
        "Each cell is median (min-max) over the runs; the ratio is taken within each run "
        "(both figures measured back to back on the same files, the order alternating between "
        "runs), then summarised. Transfer times are to durable completion (the data "
        "fdatasynced), the reference's page-cache time beside them.",
        "",
        *table(rows),
        "",
        *([*[f"- {p}" for p in problems(rows)], ""] if problems(rows) else []),
        "## How each figure is measured",
        "",
        *[f"- {note}" for note in ctx.notes],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: processes stopped, namespaces and
    # temporary files removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="minitorrent-bench-"))
    ctx = Context(
        quick=args.quick,
        runs=args.runs,
        sizes=args.sizes,
        tmp=tmp,
        log=log,
    )
    ctx.sample_load()  # before anything starts
    ctx.notes.append(warm_memory(memory_wanted(args.sizes, args.only), log))

    def log_and_sample(text: str) -> None:
        ctx.sample_load()
        log(text)

    ctx.log = log_and_sample
    rows: list[Row] = []
    failed = False
    log(f"temporary directory {tmp}")
    try:
        for name in args.only:
            ctx.sample_load()
            log(f"{TITLES[name]} ...")
            try:
                rows += WORKLOADS[name](ctx)
            except BenchError as exc:
                failed = True
                log(f"{TITLES[name]} failed: {exc}")
                rows.append(Row(TITLES[name], "", "", "lower", error=str(exc)))
            except Exception as exc:
                failed = True
                log(f"{TITLES[name]} failed:\n{traceback.format_exc()}")
                rows.append(Row(TITLES[name], "", "", "lower", error=f"{exc!r}"))
            finally:
                ctx.cleanup()
                ctx.procs.clear()
                ctx.popens.clear()
                ctx.sample_load()
    finally:
        ctx.cleanup()
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    pictures, why = charts.draw(rows, ctx.growth, args.output.parent, args.quick)
    if why:
        ctx.notes.append(why)
    text = report(args, rows, ctx, started, time.monotonic() - t0, pictures)
    args.output.write_text(text)
    print("\n".join(table(rows) + problems(rows)))
    log(f"wrote {args.output}")
    return 1 if failed else 0


__all__ = ["fmt", "main"]
