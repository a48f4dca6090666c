"""W3s: the swarm of W3 in a shaped network that the benchmark builds and removes itself.

One network namespace per peer plus a hub namespace holding a bridge and the tracker; each
peer has a veth pair to the bridge, and its upload (the egress of its veth end) is capped by
``tc qdisc ... tbf rate 80mbit``.  The addresses (10.77.0.0/24) exist only on interfaces inside
these namespaces: nothing is routed to or from the rest of the machine, so no packet leaves it.
Processes are started with ``ip netns exec``, which fails rather than run a command outside its
namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from bench.common import BenchError, Context, Row
from bench.w3_swarm import Net, libtorrent_or_na, swarm

RATE_MBIT = 80
SUBNET = "10.77.0"


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class ShapedNetwork:
    def __init__(self, peers: int) -> None:
        tag = f"mtbench{os.getpid()}"
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
            shape = f"tbf rate {RATE_MBIT}mbit burst 64kb latency 50ms".split()
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


def run(ctx: Context) -> list[Row]:
    size, peers = ctx.sizes.w3s, ctx.sizes.w3_peers
    rate = RATE_MBIT * 1e6 / 8  # bytes/s, each peer's upload
    t_min = max(size / rate, peers * size / (rate + peers * rate))
    label = f"W3s 1 seeder → {peers} downloaders, {size >> 20} MiB, {RATE_MBIT} Mbit/s uploads"
    wall = Row(label, f"time until all {peers} hold the file, s", "libtorrent", "lower")
    versus = Row(
        label,
        f"time / T_min (T_min = {t_min:.2f} s), lower bound ratio",
        "libtorrent",
        "lower",
        "minitorrent ≤ 1.25",
    )
    why = cannot_shape()
    if why:
        wall.error = versus.error = why
        ctx.notes.append(f"W3s: not measured: {why}.")
        return [wall, versus]
    have_lt = libtorrent_or_na(ctx, [wall, versus])
    data = ctx.random_file(f"data-{size >> 20}MiB.bin", size)
    network = ShapedNetwork(peers + 1)
    try:
        net = network.up()
        swarm(ctx, ctx.tmp / "w3s", data, peers, net, wall, have_lt, "w3s")
    finally:
        ctx.cleanup()  # every process in the namespaces first
        network.down()
    versus.mine = [t / t_min for t in wall.mine]
    versus.ref = [t / t_min for t in wall.ref]
    ctx.notes.append(
        f"W3s: as W3 with a {size >> 20} MiB file, but every peer (and the tracker) in its own "
        "network namespace made by the benchmark, joined by a bridge in a hub namespace; each "
        f"peer's upload is capped by `tc qdisc add dev eth0 root tbf rate {RATE_MBIT}mbit burst "
        "64kb latency 50ms` (no added delay: this kernel has no netem); the namespaces are "
        "deleted at the end. T_min = max(F/u_seed, N·F/(u_seed + Σ u_peers)) = "
        f"{t_min:.2f} s for F = {size >> 20} MiB, N = {peers}, u = {RATE_MBIT} Mbit/s each "
        "(link-level rate: TCP/IP and Ethernet headers take about 4 % of it)."
    )
    return [wall, versus]
