"""W3s: the swarm of W3 in a shaped network that the benchmark builds and removes itself.

One network namespace per peer plus a hub namespace holding a bridge and the tracker; each
peer has a veth pair to the bridge, and its upload (the egress of its veth end) is capped at
the shape's rate by ``tc qdisc ... tbf``.  The addresses (10.77.0.0/24) exist only on
interfaces inside these namespaces: nothing is routed to or from the rest of the machine, so
no packet leaves it.  Processes are started with ``ip netns exec``, which fails rather than run
a command outside its namespace.

Every namespace knows every other's hardware address from the start (permanent neighbour
entries; the addresses are set when the interfaces are made), so nothing is resolved by ARP.
The kernel keeps one neighbour table for all namespaces, and its dynamic entries are capped
by ``net.ipv4.neigh.default.gc_thresh3`` (1,024 by default): a swarm of 32 downloaders talking
to each other needs about 33 by 33 entries, so with ARP the table overflowed, and a new
connection (a member's first request to the tracker, a peer's SYN) was dropped until an
entry aged out.  Permanent entries are not counted against that cap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.common import BenchError, Context, Row, Shape, Target
from bench.w3_swarm import Net, SwarmRows, libtorrent_or_na, swarm

SUBNET = "10.77.0"
#: The tracker stands for a server of its own, but here it shares the CPUs with every peer
#: of the swarm.  At N = 32 (33 busy peer processes on 2 vCPUs) it waited 15.7 s on the run
#: queue for 1.6 s of CPU when the downloads started (/proc/PID/schedstat), long enough
#: for a member's request to time out.  The highest priority gives it the CPU when it has
#: work (it needs little: a few CPU-seconds per workload).  It cannot help when the machine
#: is shared: the kernel divides the CPUs between sessions (autogroups) first.
TRACKER_NICE = -20


def ip(*args: str, stdin: str | None = None) -> None:
    done = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def mac(addr: str) -> str:
    """The hardware address of the interface holding ``addr`` (locally administered)."""
    return f"02:4d:54:00:00:{int(addr.rsplit('.', 1)[1]):02x}"


def neighbour_table_fulls() -> int:
    """How often the kernel could not add a neighbour entry since boot (all namespaces)."""
    try:
        lines = Path("/proc/net/stat/arp_cache").read_text().split("\n")
    except OSError:
        return 0
    column = lines[0].split().index("table_fulls")
    return sum(int(line.split()[column], 16) for line in lines[1:] if line.strip())


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
        hub_addr = f"{SUBNET}.1"
        ip("-n", self.hub, "link", "add", "br0", "address", mac(hub_addr), "type", "bridge")
        ip("-n", self.hub, "addr", "add", f"{hub_addr}/24", "dev", "br0")
        ip("-n", self.hub, "link", "set", "br0", "up")
        for i, ns in enumerate(self.peers):
            ip("netns", "add", ns)
            self.created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
            # Both ends are created straight inside the namespaces.
            peer_end = ["eth0", "address", mac(self.addr(i)), "netns", ns]
            ip("-n", self.hub, "link", "add", f"v{i}", "type", "veth", "peer", *peer_end)
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
        self._know_each_other(hub_addr)
        return Net(
            tracker_host=hub_addr,
            tracker_ns=self.hub,
            hosts=tuple(self.addr(i) for i in range(len(self.peers))),
            namespaces=tuple(self.peers),
            tracker_nice=TRACKER_NICE,
        )

    def _know_each_other(self, hub_addr: str) -> None:
        """A permanent neighbour entry in every namespace for every other address."""
        hosts = [(self.hub, "br0", hub_addr)]
        hosts += [(ns, "eth0", self.addr(i)) for i, ns in enumerate(self.peers)]
        for ns, dev, own in hosts:
            entries = "".join(
                f"neigh replace {addr} lladdr {mac(addr)} dev {dev} nud permanent\n"
                for _, _, addr in hosts
                if addr != own
            )
            ip("-n", ns, "-batch", "-", stdin=entries)

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
    fulls = neighbour_table_fulls()
    try:
        net = network.up()
        swarm(ctx, ctx.tmp / tag, data, shape.peers, net, rows, have_lt, tag)
    finally:
        ctx.cleanup()  # every process in the namespaces first
        network.down()
        if overflows := neighbour_table_fulls() - fulls:
            # Not this network's (it resolves nothing), but a sign of what else ran.
            ctx.log(f"{tag}: the kernel's neighbour table overflowed {overflows} times meanwhile")
    versus.mine = [t / t_min for t in rows.durable.mine]
    versus.ref = [t / t_min for t in rows.durable.ref]
    return rows, versus


def how(workload: str, shapes: str, extra: str = "") -> str:
    return (
        f"{workload}: as W3 ({shapes}), but every peer (and the tracker) in its own network "
        "namespace made by the benchmark, joined by a bridge in a hub namespace; each peer's "
        "upload is capped by `tc qdisc add dev eth0 root tbf rate R burst 64kb latency 50ms` "
        "(no added delay: this kernel has no netem); the namespaces are deleted at the end. "
        f"minitorrent's tracker runs at nice {TRACKER_NICE}: it stands for a server of its "
        "own, and among the swarm's busy processes it waited seconds for a CPU. "
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
