"""W1: hashing a file to share it (page cache warm) against ``mktorrent -t 2``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fastbencode import bdecode  # type: ignore[attr-defined]

from bench.common import (
    BenchError,
    Context,
    CpuRows,
    Row,
    Target,
    children_cpu,
    measure_mine,
    optional_tool,
    remove,
    timed,
    warm,
)
from bench.peers import GROUP
from minitorrent.metainfo import build_info, hash_file, piece_length_for


def run_mktorrent(
    mktorrent: str,
    data: Path,
    piece_length: int,
    out: Path,
    pieces: bytes,
    time_rows: list[Row],
    cpu: CpuRows,
) -> None:
    """``mktorrent -t 2`` on ``data`` (a file or a folder): its wall time into each of
    ``time_rows`` and its CPU into ``cpu`` as the reference's figures; its piece hashes must
    be ``pieces``."""
    remove(out)
    cmd = [
        mktorrent,
        "-t",
        "2",
        "-l",
        str(piece_length.bit_length() - 1),
        "-p",
        "-a",
        "http://127.0.0.1/announce",
        "-o",
        str(out),
        str(data),
    ]
    before = children_cpu()
    with timed() as t:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"mktorrent failed: {done.stderr.strip() or done.stdout}")
    for row in time_rows:
        row.ref.append(t[0])
    cpu.add(children_cpu() - before, mine=False)
    if bdecode(out.read_bytes())[b"info"][b"pieces"] != pieces:
        raise BenchError(f"mktorrent's piece hashes of {data.name} differ from minitorrent's")


def run(ctx: Context) -> list[Row]:
    size = ctx.sizes.w1
    label = f"W1 hashing {size >> 20} MiB"
    build = Row(
        label,
        "build_info (what upload_file runs), s",
        "mktorrent -t 2",
        "lower",
        Target("ratio", "≤", 0.8),
    )
    pieces = Row(label, "hash_file: the piece hashes alone, s", "mktorrent -t 2", "lower")
    cpu = CpuRows.of(label, "build_info", "mktorrent -t 2")
    rows = [build, pieces, *cpu.rows()]
    mktorrent = optional_tool(ctx, rows, "mktorrent", "mktorrent")
    data = ctx.random_file(f"data-{size >> 20}MiB.bin", size)
    piece_length = piece_length_for(size)
    out = ctx.tmp / "w1.torrent"
    for run_no in range(ctx.runs):
        warm(data)
        info = measure_mine(build, cpu, lambda: build_info(data, data.name, GROUP))
        with timed() as t:
            hashes = hash_file(data, piece_length)
        pieces.mine.append(t[0])
        if hashes != info.pieces:
            raise BenchError("hash_file and build_info disagree on the piece hashes")
        if mktorrent is not None:
            run_mktorrent(mktorrent, data, piece_length, out, info.pieces, [build, pieces], cpu)
        ctx.log(
            f"w1 run {run_no + 1}/{ctx.runs}: build_info {build.mine[-1]:.3f} s, "
            f"pieces only {pieces.mine[-1]:.3f} s, mktorrent "
            + (f"{build.ref[-1]:.3f} s" if build.ref else "n/a")
        )
    remove(out)
    ctx.notes.append(
        f"W1: {size >> 20} MiB random file, piece length {piece_length >> 10} KiB "
        "(metainfo.piece_length_for), read once before each run. build_info is what "
        "upload_file runs: one pass computing the piece hashes (the info-hash, which binds "
        "them, identifies a shared file: there is no whole-file SHA1 any more) and the info "
        "dictionary; hash_file computes the piece hashes alone. Both run "
        "in the benchmark's process (2 workers, the default), mktorrent as "
        f"`mktorrent -t 2 -l {piece_length.bit_length() - 1} -p -a URL -o OUT FILE` (process "
        "start included). Both rows are compared with the same mktorrent time; mktorrent's "
        "piece hashes are checked equal to minitorrent's. CPU: build_info's from "
        "getrusage(RUSAGE_SELF) around the call (its hashing threads run in the benchmark's "
        "process), mktorrent's from getrusage(RUSAGE_CHILDREN) around the run."
    )
    return rows
