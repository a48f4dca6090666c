"""The benchmark's shaped network (bench/w3_shaped.py) joins every peer to every other one."""

from __future__ import annotations

import sys

import pytest
from bench.w3_shaped import ShapedNetwork, cannot_shape

from minitorrent.driver import Process, stop_all

#: One host of the mesh: listens on its address, then (on a line on stdin) connects to every
#: other host with the client's connect timeout, and says which it could not reach.
MESH_HOST = """
import socket, sys
own, others = sys.argv[1], sys.argv[2:]
server = socket.create_server((own, 9000), backlog=256)
print("listening", flush=True)
sys.stdin.readline()
failed, kept = [], []
for host in others:
    try:
        kept.append(socket.create_connection((host, 9000), timeout=3))
    except OSError as exc:
        failed.append(f"{host} ({exc})")
print("failed: " + ", ".join(failed) if failed else "reached all", flush=True)
sys.stdin.readline()
"""


@pytest.mark.skipif(bool(cannot_shape()), reason=cannot_shape() or "can shape")
def test_every_host_of_a_40_peer_shaped_network_reaches_every_other() -> None:
    # 41 namespaces talking to each other need more neighbour entries than the kernel's
    # default cap for all namespaces together (gc_thresh3 = 1,024): the network must not
    # depend on ARP, or connections are dropped while the table is full.
    network = ShapedNetwork(40, 100)
    hosts: list[Process] = []
    try:
        net = network.up()
        where = [(net.tracker_ns, net.tracker_host)]
        where += [(net.ns(i), net.host(i)) for i in range(len(net.hosts))]
        addrs = [addr for _, addr in where]
        for ns, addr in where:
            assert ns is not None
            others = [other for other in addrs if other != addr]
            argv = ["ip", "netns", "exec", ns, sys.executable, "-c", MESH_HOST, addr, *others]
            hosts.append(Process(argv))
        for host in hosts:
            host.wait_for_line("^listening$", timeout=120)
        for host in hosts:
            host.send("go")
        outcomes = [
            host.lines[host.wait_for_line("^(failed|reached)", timeout=300)] for host in hosts
        ]
        assert [f"{addr}: {outcome}" for addr, outcome in zip(addrs, outcomes, strict=True)] == [
            f"{addr}: reached all" for addr in addrs
        ]
    finally:
        stop_all(hosts)
        network.down()
