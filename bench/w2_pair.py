"""W2: one seeder, one downloader of a large random file over loopback, against libtorrent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.common import (
    AnonPeak,
    BenchError,
    Context,
    Cpu,
    CpuRows,
    Missing,
    Row,
    Target,
    cpu_seconds,
    make_durable,
    need_libtorrent,
    peak_rss_mib,
    remove,
    take_turns,
    timed,
)
from bench.peers import Downloads, Group, LtPeer, reference_torrent
from minitorrent.driver import free_port


@dataclass
class W2Rows:
    wall: Row
    cached: Row
    rate: Row
    down_cpu: CpuRows
    seed_cpu: CpuRows
    memory: Row
    anon: Row
    size: int
    all: list[Row] = field(default_factory=list)
    down0: Cpu = field(default_factory=lambda: Cpu(0, 0))
    seed0: Cpu = field(default_factory=lambda: Cpu(0, 0))

    def __post_init__(self) -> None:
        self.all = [
            self.wall,
            self.cached,
            self.rate,
            *self.down_cpu.rows(),
            *self.seed_cpu.rows(),
            self.memory,
            self.anon,
        ]

    def start(self, down: int, seed: int) -> None:
        """The clock starts: remember the CPU of the downloader and seeder (pids)."""
        self.down0, self.seed0 = cpu_seconds(down), cpu_seconds(seed)

    def add(self, mine: bool, durable: float, cached: float, down: int, seed: int) -> None:
        """One leg's figures, CPU since ``start``."""
        self.wall.side(mine).append(durable)
        self.cached.side(mine).append(cached)
        self.rate.side(mine).append(self.size / durable / 1e6)
        self.down_cpu.add(cpu_seconds(down) - self.down0, mine=mine)
        self.seed_cpu.add(cpu_seconds(seed) - self.seed0, mine=mine)
        self.memory.side(mine).append(peak_rss_mib(down))


def w2_rows(size: int, label: str = "", *, targets: bool = True) -> W2Rows:
    """The rows of a one-to-one transfer of ``size`` bytes (W2's label and targets unless
    told otherwise)."""
    label = label or f"W2 1 seeder → 1 downloader, {size >> 20} MiB, loopback"
    ref = "libtorrent"
    return W2Rows(
        wall=Row(
            label,
            "time to durable completion, s",
            ref,
            "lower",
            Target("ratio", "≤", 0.5) if targets else None,
        ),
        cached=Row(label, "time to completion, reference in the page cache only, s", ref, "lower"),
        rate=Row(label, "throughput to durable completion, MB/s", ref, "higher"),
        down_cpu=CpuRows.of(label, "downloader", ref),
        seed_cpu=CpuRows.of(label, "seeder", ref),
        memory=Row(
            label,
            "downloader peak RSS (VmHWM), MiB",
            ref,
            "lower",
            Target("minitorrent", "≤", 40) if targets else None,
        ),
        anon=Row(label, "downloader peak RssAnon (sampled), MiB", ref, "lower"),
        size=size,
    )


def have_libtorrent(ctx: Context, rows: list[Row]) -> bool:
    """Whether libtorrent is installed; without it (``--quick`` only) the rows say why."""
    try:
        need_libtorrent()
    except Missing as exc:
        if not ctx.quick:
            raise
        for row in rows:
            row.ref_missing = str(exc)
        return False
    return True


def data_files(root: Path) -> list[Path]:
    """The file ``root``, or every file below the folder ``root``."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]


def verify_copy(ctx: Context, copy: Path, original: Path) -> None:
    """Raise unless ``copy`` (a file or a folder) holds exactly the bytes of ``original``."""
    if not original.is_dir():
        ctx.verify(copy, original)
        return
    theirs = {p.relative_to(copy) for p in data_files(copy)} if copy.is_dir() else set()
    ours = [p.relative_to(original) for p in data_files(original)]
    if theirs != set(ours):
        raise BenchError(f"{copy} does not hold the files of {original}")
    for relative in ours:
        ctx.verify(copy / relative, original / relative)


def transfer(ctx: Context, tag: str, data: Path, rows: W2Rows, have_lt: bool) -> None:
    """``ctx.runs`` transfers of ``data`` (a file or a folder) from one seeder to one fresh
    downloader, minitorrent's and libtorrent's legs taking turns."""
    work = ctx.tmp / tag
    timeout = 120 + rows.size / (1 << 20)  # generous: a stalled transfer fails, it does not hang
    group = Group(ctx, work / "mt")
    seeder = group.client("seeder")
    seeder.ok(f"upload_file {data} bench", timeout=timeout)
    lt_seeder: LtPeer | None = None
    torrent = work / "data.torrent"
    if have_lt:
        reference_torrent(data, torrent)
        lt_seeder = LtPeer("seed", torrent, data.parent, f"127.0.0.1:{free_port()}")
        ctx.track(lt_seeder).ready()

    def minitorrent_leg(run_no: int) -> None:
        # A fresh downloader per run (the previous one has quit).
        leech = group.client(f"leech{run_no}")
        dest = work / "out" / f"mt{run_no}"
        rows.start(leech.popen.pid, seeder.popen.pid)
        with AnonPeak(leech.popen.pid) as peak, timed() as t:
            Downloads([leech], data.name, [dest]).finish(timeout, [seeder])
        # `wait` returns once the data is fdatasynced: durable and cached are the same point.
        rows.add(True, t[0], t[0], leech.popen.pid, seeder.popen.pid)
        rows.anon.mine.append(peak.peak)
        group.quit([leech])
        verify_copy(ctx, dest / data.name, data)
        remove(dest)  # before the next leg: its pages go back to the free memory

    def libtorrent_leg(lt_seeder: LtPeer, run_no: int) -> None:
        dest = work / "out" / f"lt{run_no}"
        lt_leech = LtPeer("leech", torrent, dest, f"127.0.0.1:{free_port()}", [lt_seeder.listen])
        ctx.track(lt_leech).ready()
        rows.start(lt_leech.popen.pid, lt_seeder.popen.pid)
        with AnonPeak(lt_leech.popen.pid) as peak:
            t0 = time.perf_counter()
            lt_leech.done(lt_leech.start(), timeout)
            cached = time.perf_counter() - t0
            make_durable(data_files(dest / data.name))
            durable = time.perf_counter() - t0
        rows.add(False, durable, cached, lt_leech.popen.pid, lt_seeder.popen.pid)
        rows.anon.ref.append(peak.peak)
        lt_leech.quit()
        verify_copy(ctx, dest / data.name, data)
        remove(dest)

    take_turns(
        ctx,
        tag,
        minitorrent_leg,
        None if lt_seeder is None else partial(libtorrent_leg, lt_seeder),
        rows.wall,
        rows.cached,
    )
    group.quit([seeder])
    if lt_seeder is not None:
        lt_seeder.quit()


def run(ctx: Context) -> list[Row]:
    size = ctx.sizes.w2
    rows = w2_rows(size)
    have_lt = have_libtorrent(ctx, rows.all)
    data = ctx.random_file(f"data-{size >> 20}MiB.bin", size)
    transfer(ctx, "w2", data, rows, have_lt)
    ctx.notes.append(
        f"W2: {size >> 20} MiB random file. minitorrent: tracker + seeder (upload_file before "
        "the clock starts) + a fresh downloader per run; timed from sending `download_file` to "
        "`wait` returning (every piece verified, the file fdatasynced and renamed by then; no "
        "whole-file pass). libtorrent: "
        "a seeder process (full check before the clock starts) and a fresh leecher process per "
        "run that connects straight to it; timed from `start` (add_torrent + connect_peer) to "
        "is_seeding (the page-cache figure), then until fdatasync of its output file returns "
        "(the durable figure, the one compared). The two sides take turns going first; each "
        "leg's output is deleted before the next leg starts. CPU = utime and stime from "
        "/proc/PID/stat over the timed part (libtorrent's durable fdatasync runs in the "
        "benchmark's process, so its kernel time is not in the downloader's figure); memory = "
        "VmHWM of the downloader process, which includes the file pages it maps (libtorrent 2 "
        "memory-maps the files it transfers), and its RssAnon (heap and buffers only) sampled "
        "every 20 ms. Every copy is checked byte for byte (SHA1) afterwards."
    )
    return rows.all
