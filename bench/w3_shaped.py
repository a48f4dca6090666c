"""W3s: the swarm of W3 in a shaped network that the benchmark builds and removes itself.

One network namespace per peer plus a hub namespace holding a bridge and the tracker; each
peer has a veth pair to the bridge, and its upload (the egress of its veth end) is capped at
the shape's rate by ``tc qdisc ... tbf``.  The addresses (10.77.0.0/24) exist only on
interfaces inside these namespaces: nothing is routed to or from the rest of the machine, so
no packet leaves it.  Processes are started with ``ip netns exec``, which fails rather than run
a command outside its namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from bench.common import BenchError, Context, Row, Shape, Target
from bench.w3_swarm import Net, SwarmRows, libtorrent_or_na, swarm

SUBNET = "10.77.0"


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class ShapedNetwork:
    def __init__(self, peers: int, rate_mbit: float) -> None:
        tag = f"mtbench{os.getpid()}"
        self.rate_kbit = round(rate_mbit * 1000)
        self.hub = f"{tag}-hub"
        self.peers = [f"{tag}-p{i}" for i in range(peers)]
        self.created: list[str] = []

    def addr(self, i: int) -> str:
        return f"{SUBNET}.{10 + i}"

    def up(self) -> Net:
        ip("netns", "add", self.hub)
        self.created.append(self.hub)
        ip("-n", self.hub, "link", "set", "lo", "up")
        ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        ip("-n", self.hub, "addr", "add", f"{SUBNET}.1/24", "dev", "br0")
        ip("-n", self.hub, "link", "set", "br0", "up")
        for i, ns in enumerate(self.peers):
            ip("netns", "add", ns)
            self.created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
            # Both ends are created straight inside the namespaces.
            ip("-n", self.hub, "link", "add", f"v{i}", "type", "veth", "peer", "eth0", "netns", ns)
            ip("-n", self.hub, "link", "set", f"v{i}", "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{self.addr(i)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            shape = f"tbf rate {self.rate_kbit}kbit burst 64kb latency 50ms".split()
            tc = subprocess.run(
                ["tc", "-n", ns, "qdisc", "add", "dev", "eth0", "root", *shape],
                capture_output=True,
                text=True,
                check=False,
            )
            if tc.returncode != 0:
                raise BenchError(f"tc tbf in {ns}: {tc.stderr.strip()}")
        return Net(
            tracker_host=f"{SUBNET}.1",
            tracker_ns=self.hub,
            hosts=tuple(self.addr(i) for i in range(len(self.peers))),
            namespaces=tuple(self.peers),
        )

    def down(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self.created.clear()


def cannot_shape() -> str:
    if os.geteuid() != 0:
        return "needs root (network namespaces, tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (Debian package iproute2)"
    return ""


def measure(ctx: Context, shape: Shape, workload: str, tag: str) -> tuple[SwarmRows, Row]:
    """The swarm at ``shape`` in a fresh shaped network: its times and time / T_min."""
    t_min = shape.t_min()
    label = (
        f"{workload} 1 seeder → {shape.peers} downloaders, {shape.size >> 20} MiB, "
        f"{shape.rate_mbit:g} Mbit/s uploads"
    )
    rows = SwarmRows.of(label, shape.peers, None)
    versus = Row(
        label,
        f"time / T_min (T_min = {t_min:.2f} s), lower bound ratio",
        "libtorrent",
        "lower",
        Target("minitorrent", "≤", 1.25),
    )
    why = cannot_shape()
    if why:
        for row in [*rows.rows(), versus]:
            row.error = why
        return rows, versus
    have_lt = libtorrent_or_na(ctx, [*rows.rows(), versus])
    data = ctx.random_file(f"data-{shape.size >> 20}MiB.bin", shape.size)
    network = ShapedNetwork(shape.peers + 1, shape.rate_mbit)
    try:
        net = network.up()
        swarm(ctx, ctx.tmp / tag, data, shape.peers, net, rows, have_lt, tag)
    finally:
        ctx.cleanup()  # every process in the namespaces first
        network.down()
    versus.mine = [t / t_min for t in rows.durable.mine]
    versus.ref = [t / t_min for t in rows.durable.ref]
    return rows, versus


def how(workload: str, shapes: str, extra: str = "") -> str:
    return (
        f"{workload}: as W3 ({shapes}), but every peer (and the tracker) in its own network "
        "namespace made by the benchmark, joined by a bridge in a hub namespace; each peer's "
        "upload is capped by `tc qdisc add dev eth0 root tbf rate R burst 64kb latency 50ms` "
        "(no added delay: this kernel has no netem); the namespaces are deleted at the end. "
        "T_min = max(F/u_seed, N·F/(u_seed + Σ u_peers)) for a file of F bytes, N downloaders, "
        "every upload u = R (link-level rate: TCP/IP and Ethernet headers take about 4 % of "
        f"it).{extra}"
    )


def run(ctx: Context) -> list[Row]:
    shape = ctx.sizes.w3s
    rows, versus = measure(ctx, shape, "W3s", "w3s")
    if rows.durable.error:
        ctx.notes.append(f"W3s: not measured: {rows.durable.error}.")
    else:
        ctx.notes.append(how("W3s", shape.describe() + " MiB"))
    return [*rows.rows(), versus]


def run_growth(ctx: Context) -> list[Row]:
    """W3 growth: one file and rate, more and more downloaders; time / T_min should stay flat."""
    out: list[Row] = []
    for shape in ctx.sizes.w3g:
        rows, versus = measure(ctx, shape, "W3 growth", f"w3g{shape.peers}")
        versus.target = None  # the target is the curve staying flat, drawn in the chart
        out += [rows.durable, rows.seeder_sent, versus]
        if not versus.error:
            ctx.growth.append((shape.peers, versus.mine, versus.ref))
    shapes = ", ".join(str(shape.peers) for shape in ctx.sizes.w3g)
    first = ctx.sizes.w3g[0]
    ctx.notes.append(
        f"W3 growth: not measured: {out[0].error}."
        if out and out[0].error
        else how(
            "W3 growth",
            f"N = {shapes} downloaders, {first.size >> 20} MiB, {first.rate_mbit:g} Mbit/s",
            " Each N in a network of its own; the chart plots time / T_min against N.",
        )
    )
    return out
