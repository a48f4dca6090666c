"""W3: one seeder and N downloaders started together (loopback), against libtorrent peers."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.common import (
    Context,
    Missing,
    Row,
    Target,
    make_durable,
    need_libtorrent,
    remove,
    take_turns,
    timed,
)
from bench.peers import Downloads, Group, LtPeer, reference_torrent
from minitorrent.driver import Client, free_port


@dataclass
class Net:
    """Where the peers of a swarm run: one address per peer (and namespaces, if shaped)."""

    tracker_host: str = "127.0.0.1"
    tracker_ns: str | None = None
    hosts: tuple[str, ...] = ()  # host of peer i (0 = the seeder); empty: all on 127.0.0.1
    namespaces: tuple[str | None, ...] = ()
    tracker_nice: int = 0  # the tracker's scheduling priority

    def host(self, i: int) -> str:
        return self.hosts[i] if self.hosts else "127.0.0.1"

    def ns(self, i: int) -> str | None:
        return self.namespaces[i] if self.namespaces else None

    def port(self, i: int, run_no: int) -> int:
        # In its own namespace a peer has every port to itself; on loopback ask the kernel.
        return 7000 + run_no if self.hosts else free_port()


@dataclass
class SwarmRows:
    """The swarm's times: to durable completion (compared) and, for the reference, to the
    page cache only."""

    durable: Row
    cached: Row
    # Bytes the seeder sent / file size: 1.0 when every piece left the seeder once.
    seeder_sent: Row

    @classmethod
    def of(cls, label: str, peers: int, target: Target | None) -> SwarmRows:
        what = f"time until all {peers} hold the file"
        sent = Row(label, "bytes the seeder sent / file size", "libtorrent", "lower")
        sent.ref_missing = "libtorrent's seeder is not asked"
        return cls(
            Row(label, f"{what} durably, s", "libtorrent", "lower", target),
            Row(label, f"{what}, reference in the page cache only, s", "libtorrent", "lower"),
            sent,
        )

    def rows(self) -> list[Row]:
        return [self.durable, self.cached, self.seeder_sent]


def uploaded(client: Client) -> int:
    """Bytes a client sent to all its peers so far (its `peers` counters)."""
    return sum(int(n) for n in re.findall(r" up=(\d+)", "\n".join(client.run("peers"))))


def downloaded(client: Client) -> int:
    """Bytes a client received from all its peers so far, duplicates included."""
    return sum(int(n) for n in re.findall(r" down=(\d+)", "\n".join(client.run("peers"))))


def swarm(
    ctx: Context,
    work: Path,
    data: Path,
    peers: int,
    net: Net,
    rows: SwarmRows,
    have_lt: bool,
    tag: str,
) -> None:
    """Measure minitorrent and libtorrent ``ctx.runs`` times, taking turns going first."""
    timeout = 300 + 4 * data.stat().st_size / (1 << 20)
    group = Group(ctx, work / "mt", host=net.tracker_host, ns=net.tracker_ns, nice=net.tracker_nice)
    seeder = group.client("seeder", ns=net.ns(0), host=net.host(0), port=net.port(0, 0))
    seeder.ok(f"upload_file {data} bench", timeout=timeout)
    lt_seeder: LtPeer | None = None
    torrent = work / "data.torrent"
    if have_lt:
        reference_torrent(data, torrent)
        lt_seeder = LtPeer(
            "seed", torrent, data.parent, f"{net.host(0)}:{net.port(0, 99)}", ns=net.ns(0)
        )
        ctx.track(lt_seeder).ready()

    def minitorrent_leg(run_no: int) -> None:
        leeches: list[Client] = [
            group.client(
                f"r{run_no}p{i}", ns=net.ns(i), host=net.host(i), port=net.port(i, run_no + 1)
            )
            for i in range(1, peers + 1)
        ]
        dests = [work / "out" / f"mt{run_no}" / f"p{i}" for i in range(1, peers + 1)]
        sent_before = uploaded(seeder)
        with timed() as t:
            Downloads(leeches, data.name, dests).finish(timeout, [seeder])
        size = data.stat().st_size
        rows.seeder_sent.mine.append((uploaded(seeder) - sent_before) / size)
        received = sum(downloaded(leech) for leech in leeches) / (size * peers)
        ctx.log(
            f"{tag}: the seeder sent {rows.seeder_sent.mine[-1]:.2f} x the file; "
            f"each downloader received {received:.2f} x the file"
        )
        # Each `wait` returns once its copy is fdatasynced: durable and cached are one point.
        rows.durable.mine.append(t[0])
        rows.cached.mine.append(t[0])
        group.quit(leeches)
        for dest in dests:
            ctx.verify(dest / data.name, data)
        remove(work / "out" / f"mt{run_no}")  # before the next leg starts

    def libtorrent_leg(lt_seeder: LtPeer, run_no: int) -> None:
        listens = [f"{net.host(i)}:{net.port(i, 100 + run_no)}" for i in range(1, peers + 1)]
        lt_dests = [work / "out" / f"lt{run_no}" / f"p{i}" for i in range(1, peers + 1)]
        lt_leeches = [
            LtPeer(
                "leech",
                torrent,
                lt_dests[i],
                listens[i],
                [lt_seeder.listen, *listens[:i], *listens[i + 1 :]],
                ns=net.ns(i + 1),
            )
            for i in range(peers)
        ]
        for leech in lt_leeches:
            ctx.track(leech).ready()
        t0 = time.perf_counter()
        starts = [leech.start() for leech in lt_leeches]
        for leech, start in zip(lt_leeches, starts, strict=True):
            leech.done(start, timeout)
        rows.cached.ref.append(time.perf_counter() - t0)
        make_durable([dest / data.name for dest in lt_dests])
        rows.durable.ref.append(time.perf_counter() - t0)
        for leech in lt_leeches:  # all kept serving until the last one was done
            leech.quit()
        for dest in lt_dests:
            ctx.verify(dest / data.name, data)
        remove(work / "out" / f"lt{run_no}")

    take_turns(
        ctx,
        tag,
        minitorrent_leg,
        None if lt_seeder is None else partial(libtorrent_leg, lt_seeder),
        rows.durable,
        rows.cached,
    )
    group.quit([seeder])
    if lt_seeder is not None:
        lt_seeder.quit()


def libtorrent_or_na(ctx: Context, rows: list[Row]) -> bool:
    try:
        need_libtorrent()
        return True
    except Missing as exc:
        if not ctx.quick:
            raise
        for row in rows:
            row.ref_missing = str(exc)
        return False


def run(ctx: Context) -> list[Row]:
    size, peers = ctx.sizes.w3, ctx.sizes.w3_peers
    label = f"W3 1 seeder → {peers} downloaders, {size >> 20} MiB, loopback"
    rows = SwarmRows.of(label, peers, Target("ratio", "≤", 1.0))
    have_lt = libtorrent_or_na(ctx, rows.rows())
    data = ctx.random_file(f"data-{size >> 20}MiB.bin", size)
    swarm(ctx, ctx.tmp / "w3", data, peers, Net(), rows, have_lt, "w3")
    ctx.notes.append(
        f"W3: {size >> 20} MiB random file, 1 seeder + {peers} downloaders, each its own "
        "process on 127.0.0.1. minitorrent: tracker + seeder (upload_file done before), then "
        f"{peers} fresh logged-in members per run get `download_file` + `wait` at once; timed "
        "until the last `wait` returns (clients keep serving until then). libtorrent: a "
        f"seeder process and {peers} fresh leecher processes per run, each told to connect "
        "to the seeder and to every other leecher (no tracker needed); timed from sending "
        "them `start` until the last is seeding (the page-cache figure), then until fdatasync "
        "of every copy returns (the durable figure, the one compared: each minitorrent "
        "downloader fdatasyncs its copy before `wait` returns). The two sides take turns "
        "going first; each leg's copies are deleted before the next leg starts. Every copy is "
        "checked (SHA1) afterwards."
    )
    return rows.rows()
