"""W2: one seeder, one downloader of a large random file over loopback, against libtorrent."""

from __future__ import annotations

from bench.common import (
    AnonPeak,
    Context,
    Missing,
    Row,
    cpu_seconds,
    need_libtorrent,
    peak_rss_mib,
    remove,
    timed,
)
from bench.peers import Downloads, Group, LtPeer, reference_torrent
from minitorrent.driver import free_port


def run(ctx: Context) -> list[Row]:
    size = ctx.sizes.w2
    label = f"W2 1 seeder → 1 downloader, {size >> 20} MiB, loopback"
    ref = "libtorrent"
    wall = Row(label, "wall time, s", ref, "lower", "ratio ≤ 0.5")
    rate = Row(label, "throughput, MB/s", ref, "higher", "ratio ≥ 2")
    down_cpu = Row(label, "downloader CPU, s", ref, "lower")
    seed_cpu = Row(label, "seeder CPU, s", ref, "lower")
    memory = Row(label, "downloader peak RSS (VmHWM), MiB", ref, "lower", "minitorrent ≤ 100")
    anon = Row(label, "downloader peak RssAnon (sampled), MiB", ref, "lower")
    rows = [wall, rate, down_cpu, seed_cpu, memory, anon]
    try:
        need_libtorrent()
        have_lt = True
    except Missing as exc:
        if not ctx.quick:
            raise
        have_lt = False
        for row in rows:
            row.ref_missing = str(exc)

    data = ctx.random_file(f"data-{size >> 20}MiB.bin", size)
    work = ctx.tmp / "w2"
    timeout = 120 + size / (1 << 20)  # generous: a stalled transfer fails, it does not hang
    group = Group(ctx, work / "mt")
    seeder = group.client("seeder")
    seeder.ok(f"upload_file {data} bench", timeout=timeout)
    lt_seeder: LtPeer | None = None
    torrent = work / "data.torrent"
    if have_lt:
        reference_torrent(data, torrent)
        lt_seeder = LtPeer("seed", torrent, data.parent, f"127.0.0.1:{free_port()}")
        ctx.track(lt_seeder).ready()

    for run_no in range(ctx.runs):
        # minitorrent: a fresh downloader per run (the previous one has quit).
        leech = group.client(f"leech{run_no}")
        dest = work / "out" / f"mt{run_no}"
        s0, d0 = cpu_seconds(seeder.popen.pid), cpu_seconds(leech.popen.pid)
        with AnonPeak(leech.popen.pid) as peak, timed() as t:
            Downloads([leech], data.name, [dest]).finish(timeout, [seeder])
        wall.mine.append(t[0])
        anon.mine.append(peak.peak)
        rate.mine.append(size / t[0] / 1e6)
        seed_cpu.mine.append(cpu_seconds(seeder.popen.pid) - s0)
        down_cpu.mine.append(cpu_seconds(leech.popen.pid) - d0)
        memory.mine.append(peak_rss_mib(leech.popen.pid))
        group.quit([leech])
        ctx.verify(dest / data.name, data)
        remove(dest)

        if lt_seeder is not None:
            dest = work / "out" / f"lt{run_no}"
            lt_leech = LtPeer(
                "leech",
                torrent,
                dest,
                f"127.0.0.1:{free_port()}",
                [lt_seeder.listen],
            )
            ctx.track(lt_leech).ready()
            s0, d0 = cpu_seconds(lt_seeder.popen.pid), cpu_seconds(lt_leech.popen.pid)
            with AnonPeak(lt_leech.popen.pid) as peak, timed() as t:
                lt_leech.done(lt_leech.start(), timeout)
            wall.ref.append(t[0])
            anon.ref.append(peak.peak)
            rate.ref.append(size / t[0] / 1e6)
            seed_cpu.ref.append(cpu_seconds(lt_seeder.popen.pid) - s0)
            down_cpu.ref.append(cpu_seconds(lt_leech.popen.pid) - d0)
            memory.ref.append(peak_rss_mib(lt_leech.popen.pid))
            lt_leech.quit()
            ctx.verify(dest / data.name, data)
            remove(dest)
        ctx.log(
            f"w2 run {run_no + 1}/{ctx.runs}: minitorrent {wall.mine[-1]:.2f} s, libtorrent "
            + (f"{wall.ref[-1]:.2f} s" if wall.ref else "n/a")
        )
    group.quit([seeder])
    if lt_seeder is not None:
        lt_seeder.quit()
    ctx.notes.append(
        f"W2: {size >> 20} MiB random file. minitorrent: tracker + seeder (upload_file before "
        "the clock starts) + a fresh downloader per run; timed from sending `download_file` to "
        "`wait` returning (the file is verified and renamed by then). libtorrent: a seeder "
        "process (full check before the clock starts) and a fresh leecher process per run that "
        "connects straight to it; timed from `start` (add_torrent + connect_peer) to "
        "is_seeding. CPU = utime+stime from /proc/PID/stat over the timed part; memory = "
        "VmHWM of the downloader process, which includes the file pages it maps (libtorrent 2 "
        "memory-maps the files it transfers), and its RssAnon (heap and buffers only) sampled "
        "every 20 ms. Every copy is checked byte for byte (SHA1) afterwards."
    )
    return rows
