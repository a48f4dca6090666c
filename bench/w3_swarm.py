"""W3: one seeder and N downloaders started together (loopback), against libtorrent peers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.common import Context, Missing, Row, need_libtorrent, remove, timed
from bench.peers import Downloads, Group, LtPeer, reference_torrent
from minitorrent.driver import Client, free_port


@dataclass
class Net:
    """Where the peers of a swarm run: one address per peer (and namespaces, if shaped)."""

    tracker_host: str = "127.0.0.1"
    tracker_ns: str | None = None
    hosts: tuple[str, ...] = ()  # host of peer i (0 = the seeder); empty: all on 127.0.0.1
    namespaces: tuple[str | None, ...] = ()

    def host(self, i: int) -> str:
        return self.hosts[i] if self.hosts else "127.0.0.1"

    def ns(self, i: int) -> str | None:
        return self.namespaces[i] if self.namespaces else None

    def port(self, i: int, run_no: int) -> int:
        # In its own namespace a peer has every port to itself; on loopback ask the kernel.
        return 7000 + run_no if self.hosts else free_port()


def swarm(
    ctx: Context,
    work: Path,
    data: Path,
    peers: int,
    net: Net,
    wall: Row,
    have_lt: bool,
    tag: str,
) -> None:
    """Measure minitorrent then libtorrent ``ctx.runs`` times; append the times to ``wall``."""
    timeout = 300 + 4 * data.stat().st_size / (1 << 20)
    group = Group(ctx, work / "mt", host=net.tracker_host, ns=net.tracker_ns)
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

    for run_no in range(ctx.runs):
        leeches: list[Client] = [
            group.client(
                f"r{run_no}p{i}", ns=net.ns(i), host=net.host(i), port=net.port(i, run_no + 1)
            )
            for i in range(1, peers + 1)
        ]
        dests = [work / "out" / f"mt{run_no}" / f"p{i}" for i in range(1, peers + 1)]
        with timed() as t:
            Downloads(leeches, data.name, dests).finish(timeout, [seeder])
        wall.mine.append(t[0])
        group.quit(leeches)
        for dest in dests:
            ctx.verify(dest / data.name, data)
        remove(work / "out" / f"mt{run_no}")

        if lt_seeder is not None:
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
            with timed() as t:
                starts = [leech.start() for leech in lt_leeches]
                for leech, start in zip(lt_leeches, starts, strict=True):
                    leech.done(start, timeout)
            wall.ref.append(t[0])
            for leech in lt_leeches:  # all kept serving until the last one was done
                leech.quit()
            for dest in lt_dests:
                ctx.verify(dest / data.name, data)
            remove(work / "out" / f"lt{run_no}")
        ctx.log(
            f"{tag} run {run_no + 1}/{ctx.runs}: minitorrent {wall.mine[-1]:.2f} s, libtorrent "
            + (f"{wall.ref[-1]:.2f} s" if wall.ref else "n/a")
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
    wall = Row(
        label, f"time until all {peers} hold the file, s", "libtorrent", "lower", "ratio ≤ 1.0"
    )
    have_lt = libtorrent_or_na(ctx, [wall])
    data = ctx.random_file(f"data-{size >> 20}MiB.bin", size)
    swarm(ctx, ctx.tmp / "w3", data, peers, Net(), wall, have_lt, "w3")
    ctx.notes.append(
        f"W3: {size >> 20} MiB random file, 1 seeder + {peers} downloaders, each its own "
        "process on 127.0.0.1. minitorrent: tracker + seeder (upload_file done before), then "
        f"{peers} fresh logged-in members per run get `download_file` + `wait` at once; timed "
        "until the last `wait` returns (clients keep serving until then). libtorrent: a "
        f"seeder process and {peers} fresh leecher processes per run, each told to connect "
        "to the seeder and to every other leecher (no tracker needed); timed from sending "
        "them `start` until the last is seeding. Every copy is checked (SHA1) afterwards."
    )
    return [wall]
