"""Start the peers of the transfer workloads: minitorrent clients of one group, libtorrent peers.

Both kinds can be started inside a network namespace (``ns``): the command is then prefixed by
``ip netns exec NS``, which execs it, so ``popen.pid`` is still the peer's own process.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import BENCH_TRACKER_ENV, LT_PEER, BenchError, Context, python_script
from minitorrent.driver import Client, Process, free_port, minitorrent
from minitorrent.folder import build_folder_info
from minitorrent.metainfo import InfoDict, build_info, torrent_bytes

GROUP = "bench"
#: Nothing listens there: libtorrent's announces fail at once and it only uses connect_peer.
DEAD_ANNOUNCE = "http://127.0.0.1:9/announce"


def netns_prefix(ns: str | None) -> list[str]:
    return ["ip", "netns", "exec", ns] if ns else []


class NsClient(Client):
    """A minitorrent client process, optionally inside a network namespace."""

    def __init__(
        self, ns: str | None, info_file: Path, state_dir: Path, host: str, port: int
    ) -> None:
        super().__init__(info_file, state_dir, port=port, host=host, prefix=netns_prefix(ns))


class Group:
    """A tracker (SQLite) and the clients of one group, all cleaned up by ``ctx.cleanup``;
    ``nice``: the tracker's scheduling priority (below 0 needs root)."""

    def __init__(
        self,
        ctx: Context,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        ns: str | None = None,
        nice: int = 0,
    ) -> None:
        self.ctx = ctx
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        port = 5353 if ns else free_port(host)
        self.info_file = self.dir / "tracker_info.txt"
        self.info_file.write_text(f"{host}\n{port}\n")
        self.tracker = ctx.track(
            Process(
                netns_prefix(ns)
                + (["nice", "-n", str(nice)] if nice else [])
                + minitorrent(
                    "tracker",
                    str(self.info_file),
                    "1",
                    "--db",
                    f"sqlite:///{self.dir / 'tracker.db'}",
                ),
                env=BENCH_TRACKER_ENV,
            )
        )
        self.tracker.wait_for_line(r"listening on", timeout=60)
        self.admin: Client | None = None

    def client(
        self, user: str, *, ns: str | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Client:
        """A logged-in member of the group (the first one creates it)."""
        client = NsClient(
            ns, self.info_file, self.dir / "state" / user, host, port or free_port(host)
        )
        self.ctx.track(client)
        client.ok(f"create_user {user} pw-{user}")
        client.ok(f"login {user} pw-{user}")
        if self.admin is None:
            client.ok(f"create_group {GROUP}")
            self.admin = client
        else:
            client.ok(f"join_group {GROUP}")
            self.admin.ok(f"accept_request {GROUP} {user}")
        return client

    def quit(self, clients: list[Client]) -> None:
        for client in clients:
            client.send("quit")
        for client in clients:
            try:
                client.wait(30)
            except Exception:
                client.kill()


class Downloads:
    """``download_file`` + ``wait`` sent to several clients at once; ``finish`` waits for all."""

    _markers = 0

    def __init__(self, clients: list[Client], file_name: str, dests: list[Path]) -> None:
        self.pending: list[tuple[Client, int, str]] = []
        for client, dest in zip(clients, dests, strict=True):
            dest.mkdir(parents=True, exist_ok=True)
            Downloads._markers += 1
            marker = f"__bench_{Downloads._markers}__"
            start = len(client.lines)
            client.send(f"download_file {GROUP} {file_name} {dest}")
            client.send("wait")
            client.send(f"echo {marker}")
            self.pending.append((client, start, marker))

    def finish(self, timeout: float, seeders: Sequence[Client] = ()) -> None:
        """Wait for every ``wait``; on a failure, say what each peer saw (``peers``)."""
        deadline = time.monotonic() + timeout
        for client, start, marker in self.pending:
            left = max(1.0, deadline - time.monotonic())
            end = client.wait_for_line(re.escape(marker), start=start, timeout=left)
            out = client.lines[start:end]
            errors = [line for line in out if line.startswith("error:")]
            if errors:
                seen = []
                for who, peer in [("downloader", client)] + [("seeder", s) for s in seeders]:
                    try:
                        seen.append(f"{who} {peer.port}: {peer.run('peers', timeout=10)}")
                    except AssertionError as exc:
                        seen.append(f"{who} {peer.port}: {exc}")
                raise BenchError(f"minitorrent download failed: {errors}; {'; '.join(seen)}")


def reference_torrent(data: Path, out: Path) -> InfoDict:
    """The .torrent of minitorrent's own info dict for ``data``, a file or a folder (same
    name, group, piece length, so the same info-hash) with an announce URL nobody answers."""
    if data.is_dir():
        info, _ = build_folder_info(data, data.name, GROUP)
    else:
        info = build_info(data, data.name, GROUP)
    out.write_bytes(torrent_bytes(info, DEAD_ANNOUNCE))
    return info


class LtPeer(Process):
    """bench/lt_peer.py in its own process."""

    def __init__(
        self,
        role: str,
        torrent: Path,
        save: Path,
        listen: str,
        connect: Sequence[str] = (),
        ns: str | None = None,
    ) -> None:
        save.mkdir(parents=True, exist_ok=True)
        args = ["--torrent", str(torrent), "--save", str(save), "--listen", listen]
        for peer in connect:
            args += ["--connect", peer]
        super().__init__(netns_prefix(ns) + python_script(LT_PEER, role, *args))
        self.listen = listen

    def ready(self, timeout: float = 300) -> LtPeer:
        self.wait_for_line(r"^ready$", timeout=timeout)
        return self

    def start(self) -> int:
        start = len(self.lines)
        self.send("start")
        return start

    def done(self, start: int, timeout: float) -> float:
        i = self.wait_for_line(r"^done ", start=start, timeout=timeout)
        return float(self.lines[i].split()[1])

    def quit(self) -> None:
        try:
            self.send("quit")
            self.wait(30)
        except Exception:
            self.kill()
