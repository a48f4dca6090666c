"""W5: sharing folders, many small files and a few big ones: hashing them (against
``mktorrent -t 2``) and one seeder → one downloader over loopback (against libtorrent)."""

from __future__ import annotations

from pathlib import Path

from bench.common import (
    Context,
    CpuRows,
    FolderShape,
    Row,
    measure_mine,
    optional_tool,
    warm,
)
from bench.peers import GROUP
from bench.w1_hash import run_mktorrent
from bench.w2_pair import data_files, have_libtorrent, transfer, w2_rows
from minitorrent.folder import build_folder_info
from minitorrent.metainfo import piece_length_for


def folder_name(shape: FolderShape) -> str:
    return f"folder-{shape.files}x{shape.high >> 10}KiB"


def hashing(ctx: Context, root: Path, shape: FolderShape) -> list[Row]:
    """build_folder_info (what ``upload_file FOLDER`` runs) against mktorrent on ``root``."""
    label = f"W5 hashing a folder of {shape.describe()}"
    build = Row(label, "build_folder_info (what upload_file runs), s", "mktorrent -t 2", "lower")
    cpu = CpuRows.of(label, "build_folder_info", "mktorrent -t 2")
    rows = [build, *cpu.rows()]
    mktorrent = optional_tool(ctx, rows, "mktorrent", "mktorrent")
    files = data_files(root)
    piece_length = piece_length_for(sum(f.stat().st_size for f in files))
    out = ctx.tmp / "w5.torrent"
    for run_no in range(ctx.runs):
        for path in files:
            warm(path)
        info, _ = measure_mine(build, cpu, lambda: build_folder_info(root, root.name, GROUP))
        if mktorrent is not None:
            run_mktorrent(mktorrent, root, piece_length, out, info.pieces, [build], cpu)
        ctx.log(
            f"w5 hashing run {run_no + 1}/{ctx.runs}: build_folder_info {build.mine[-1]:.3f} s, "
            "mktorrent " + (f"{build.ref[-1]:.3f} s" if build.ref else "n/a")
        )
    out.unlink(missing_ok=True)
    return rows


def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    for n, shape in enumerate(ctx.sizes.w5):
        root = ctx.random_folder(folder_name(shape), shape)
        rows += hashing(ctx, root, shape)
        size = sum(f.stat().st_size for f in data_files(root))
        pair = w2_rows(
            size, f"W5 1 seeder → 1 downloader, a folder of {shape.describe()}", targets=False
        )
        transfer(ctx, f"w5-{n}", root, pair, have_libtorrent(ctx, pair.all))
        rows += pair.all
    shapes = " and ".join(shape.describe() for shape in ctx.sizes.w5)
    ctx.notes.append(
        f"W5: two folders of random files, {shapes} (100 files to a subfolder). Hashing: every "
        "file read once before each run, then build_folder_info (what `upload_file FOLDER` "
        "runs: scan, hash with 2 workers, scan again) in the benchmark's process against "
        "`mktorrent -t 2 -l L -p -a URL -o OUT FOLDER` with the same piece length (its piece "
        "hashes checked equal to minitorrent's); CPU as in W1. Transfer: as W2 (the same "
        "harness), the whole tree fdatasynced for libtorrent's durable figure and every file "
        "of each copy checked byte for byte."
    )
    return rows
