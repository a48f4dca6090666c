"""W4: the tracker's bencoded announce under wrk, against opentracker (Debian)."""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes

from fastbencode import bdecode  # type: ignore[attr-defined]

from bench.common import BenchError, Context, Missing, Row, Target, need_tool, pin
from bench.peers import GROUP, Group
from minitorrent.driver import free_port

PEER_ID = b"-WK0001-000000000001"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass
class Load:
    rps: float
    p99_ms: float
    errors: dict[str, int]  # wrk's socket errors (connect, read, write, timeout) and non-2xx
    requests: int = 0  # answers wrk counted


def cpu_seconds(pid: int) -> float:
    """User + kernel CPU of every thread of a process so far: with the machine shared,
    CPU per answer moves far less with the load than answers per second do."""
    ticks = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:  # a thread that just ended
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def listen_drops() -> int:
    """The kernel's count of connections dropped because a listen queue was full."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(table.get("ListenDrops", 0))
    return 0


def query(info_hash: bytes) -> str:
    return (
        f"info_hash={quote_from_bytes(info_hash, safe='')}&peer_id={quote_from_bytes(PEER_ID)}"
        "&port=6881&uploaded=0&downloaded=0&left=0&compact=1"
    )


def check_announce(url: str, who: str) -> None:
    """One announce must succeed (a bencoded dict with an interval, no failure reason)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        body = bdecode(response.read())
    if not isinstance(body, dict) or b"failure reason" in body or b"interval" not in body:
        raise BenchError(f"{who} does not answer the benchmark's announce: {body!r}")


def wrk(
    wrk_path: str,
    url: str,
    connections: int,
    seconds: int,
    cpu: int | None,
    headers: tuple[str, ...] = (),
) -> Load:
    """`headers`: "Name: value" lines sent with every request (a cookie, a token)."""
    cmd = [
        wrk_path,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        *(arg for header in headers for arg in ("-H", header)),
        url,
    ]

    def on_cpu() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 60,
        preexec_fn=on_cpu,
    )
    out = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.MULTILINE)
    if done.returncode != 0 or rps is None or p99 is None:
        raise BenchError(f"wrk failed ({done.returncode}): {out[-800:]} {done.stderr[-400:]}")
    errors = {
        kind: int(n)
        for kind, n in re.findall(r"(connect|read|write|timeout) (\d+)", out)
        if int(n) > 0
    }
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors["non-2xx"] = int(non2xx.group(1))
    total = re.search(r"(\d+) requests in", out)
    return Load(
        float(rps.group(1)),
        float(p99.group(1)) * UNITS[p99.group(2)],
        errors,
        int(total.group(1)) if total else 0,
    )


def failed(who: str, load: Load) -> int:
    """Requests that failed; opentracker's 'read' errors are its closing after each answer."""
    return sum(n for kind, n in load.errors.items() if not (who == "ot" and kind == "read"))


def wrk_errors(errors: dict[tuple[str, int, str], int], runs: int) -> str:
    names = {"mt": "minitorrent", "ot": "opentracker"}
    parts = [
        f"{names[who]} at {conns} connections: {n} {kind}"
        for (who, conns, kind), n in sorted(errors.items())
        if not (who == "ot" and kind == "read")
    ]
    text = (
        f"wrk's error counts over the {runs} run(s): " + "; ".join(parts) + "."
        if parts
        else "wrk reported no connect/write/timeout errors and no non-2xx answers."
    )
    if any(who == "ot" and kind == "read" for who, _, kind in errors):
        text += (
            " opentracker closes the connection after each answer, so wrk counts one 'read' "
            "socket error per request and reconnects (left out above); the answers are counted."
        )
    return text


def cpu_note(cpu: dict[tuple[str, int], list[float]], drops: int) -> str:
    """Each server's CPU per 1,000 answers (median over the runs) and the listen drops."""
    names = {"mt": "minitorrent", "ot": "opentracker"}
    parts = [
        f"{names[who]} at {conns} connections {statistics.median(ms):.0f} ms"
        for (who, conns), ms in sorted(cpu.items())
    ]
    return (
        "Server CPU (user + kernel) per 1,000 answers, median over the runs: "
        + "; ".join(parts)
        + ". Connections dropped from a full listen queue during the loads (the kernel's "
        + f"ListenDrops, every process on the machine): {drops}."
    )


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.05)  # polling a port that is about to open


def start_opentracker(ctx: Context, binary: str, info_hash: bytes) -> int:
    """opentracker on a loopback port, the test info-hash whitelisted; its port."""
    root = ctx.tmp / "opentracker"
    root.mkdir(exist_ok=True)
    root.chmod(0o755)
    whitelist = root / "whitelist"
    whitelist.write_text(info_hash.hex() + "\n")
    whitelist.chmod(0o644)
    port = free_port()
    udp = free_port()
    cmd = [binary, "-i", "127.0.0.1", "-p", str(port), "-P", str(udp), "-d", str(root)]
    if os.geteuid() == 0:
        cmd += ["-u", "nobody"]  # it refuses to run as root; it chroots into root first
    cmd += ["-w", "whitelist"]  # read after the chroot
    log = open(root.parent / "opentracker.log", "wb")  # noqa: SIM115 (kept open while it runs)
    popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=root)
    log.close()
    ctx.popens.append(popen)
    try:
        wait_port(port)
    except BenchError:
        raise BenchError(
            f"opentracker did not start: {(root.parent / 'opentracker.log').read_text()[-400:]}"
        ) from None
    if popen.poll() is not None:
        raise BenchError(f"opentracker exited with status {popen.returncode}")
    return port


def registered_file(ctx: Context, work: Path) -> tuple[Group, str, bytes]:
    """A tracker with one member sharing one file: (group, member's announce URL, info-hash)."""
    group = Group(ctx, work / "mt")
    member = group.client("member")
    data = work / "announced.bin"
    data.write_bytes(os.urandom(1 << 20))
    member.ok(f"upload_file {data} {GROUP}")
    torrent = work / "announced.torrent"
    out = member.ok(f"export_torrent {GROUP} {data.name} {torrent}")
    found = re.search(r"info-hash ([0-9a-f]{40})", "\n".join(out))
    if found is None:
        raise BenchError(f"export_torrent printed no info-hash: {out}")
    announce = bdecode(torrent.read_bytes())[b"announce"].decode()
    return group, announce, bytes.fromhex(found.group(1))


def run(ctx: Context) -> list[Row]:
    seconds = ctx.sizes.w4_seconds
    rows: dict[tuple[str, int], Row] = {}
    for conns in ctx.sizes.w4_connections:
        label = f"W4 tracker announce, {conns} connections"
        many = conns >= 1000
        rows["rps", conns] = Row(
            label,
            "announces/s",
            "opentracker",
            "higher",
            None if many else Target("ratio", "≥", 1.0),
        )
        rows["p99", conns] = Row(
            label,
            "p99 latency, ms",
            "opentracker",
            "lower",
            Target("minitorrent", "≤", 50) if many else Target("minitorrent", "≤", 10),
        )
        rows["errors", conns] = Row(
            label,
            "failed requests (wrk's socket errors and non-2xx answers)",
            "opentracker",
            "lower",
            Target("minitorrent", "≤", 0) if many else None,
        )
    try:
        wrk_path = need_tool("wrk", "wrk")
    except Missing as exc:
        if not ctx.quick:
            raise
        for row in rows.values():
            row.error = str(exc)
        return list(rows.values())
    try:
        opentracker: str | None = need_tool("opentracker", "opentracker")
    except Missing as exc:
        if not ctx.quick:
            raise
        opentracker = None
        for row in rows.values():
            row.ref_missing = str(exc)

    work = ctx.tmp / "w4"
    work.mkdir()
    group, announce, info_hash = registered_file(ctx, work)
    pinned = (os.cpu_count() or 1) >= 2
    server_cpu, load_cpu = ({0}, 1) if pinned else (None, None)
    if server_cpu is not None:
        pin(group.tracker.popen.pid, server_cpu)
    mt_url = f"{announce}?{query(info_hash)}"
    check_announce(mt_url, "minitorrent's tracker")
    urls = {"mt": mt_url}
    pids = {"mt": group.tracker.popen.pid}
    if opentracker is not None:
        ot_port = start_opentracker(ctx, opentracker, info_hash)
        if server_cpu is not None:
            pin(ctx.popens[-1].pid, server_cpu)
        urls["ot"] = f"http://127.0.0.1:{ot_port}/announce?{query(info_hash)}"
        pids["ot"] = ctx.popens[-1].pid
        check_announce(urls["ot"], "opentracker")
    for url in urls.values():  # warm-up: first requests, connection set-up, caches
        wrk(wrk_path, url, 10, 1, load_cpu)

    # (server, connections, kind) -> total over the runs
    errors: dict[tuple[str, int, str], int] = {}
    # (server, connections) -> CPU ms per 1,000 answers, one figure per run
    cpu: dict[tuple[str, int], list[float]] = {}
    drops = 0
    for run_no in range(ctx.runs):
        for conns in ctx.sizes.w4_connections:
            order = list(urls) if run_no % 2 == 0 else list(reversed(urls))
            for who in order:
                before, drops_before = cpu_seconds(pids[who]), listen_drops()
                load = wrk(wrk_path, urls[who], conns, seconds, load_cpu)
                spent = cpu_seconds(pids[who]) - before
                drops += listen_drops() - drops_before
                if load.requests:
                    cpu.setdefault((who, conns), []).append(spent * 1e6 / load.requests)
                for kind, n in load.errors.items():
                    errors[who, conns, kind] = errors.get((who, conns, kind), 0) + n
                rps, p99 = rows["rps", conns], rows["p99", conns]
                rows["errors", conns].side(who == "mt").append(failed(who, load))
                rps.side(who == "mt").append(load.rps)
                p99.side(who == "mt").append(load.p99_ms)
            ctx.log(
                f"w4 run {run_no + 1}/{ctx.runs}, {conns} connections: minitorrent "
                f"{rows['rps', conns].mine[-1]:.0f}/s p99 {rows['p99', conns].mine[-1]:.1f} ms"
                + (
                    f", opentracker {rows['rps', conns].ref[-1]:.0f}/s "
                    f"p99 {rows['p99', conns].ref[-1]:.1f} ms"
                    if "ot" in urls
                    else ""
                )
            )
    check_announce(mt_url, "minitorrent's tracker (after the load)")
    group.quit([group.admin] if group.admin else [])
    pinning = (
        "each server pinned to CPU 0 and wrk (one thread) to CPU 1"
        if pinned
        else "nothing pinned (one CPU)"
    )
    ctx.notes.append(
        f"W4: wrk -t1 -cN -d{seconds}s --latency --timeout 10s, the same URL over and over "
        "(keep-alive connections): minitorrent's `GET /announce/<passkey>?info_hash=...&"
        "peer_id=...&port=6881&uploaded=0&downloaded=0&left=0&compact=1` for a file a member "
        "shares (passkey from export_torrent; SQLite database), and the same query on "
        "opentracker's /announce (Debian build, whitelist holding that info-hash, as nobody, "
        f"on a loopback port); {pinning}; the order alternates between runs; one 1 s warm-up "
        "each. Both answers are checked to be successful announces before the load. "
        + wrk_errors(errors, ctx.runs)
        + " "
        + cpu_note(cpu, drops)
    )
    return list(rows.values())
