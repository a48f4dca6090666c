"""A libtorrent peer in its own process: the reference of the transfer workloads (W2, W3).

    python bench/lt_peer.py seed  --torrent T --save DIR --listen IP:PORT
    python bench/lt_peer.py leech --torrent T --save DIR --listen IP:PORT --connect IP:PORT ...

Talks to the benchmark through lines:

* stdout ``listening`` once the session listens; a seeder then checks its data and prints
  ``ready``; a leecher prints ``ready`` at once.
* stdin ``start`` (leecher): add the torrent, connect to every ``--connect`` peer, print
  ``done SECONDS`` when it is seeding (every piece received and SHA1-checked).
  Peers keep serving after that until ``quit`` or the end of standard input.

Settings: no DHT, LSD, UPnP, NAT-PMP or uTP (minitorrent speaks TCP), no rate limits, several
connections per IP allowed (everything runs on one address); the rest is libtorrent's defaults.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from typing import Any

import libtorrent as lt


def say(text: str) -> None:
    print(text, flush=True)


def session(listen: str) -> Any:
    return lt.session(
        {
            "listen_interfaces": listen,
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_incoming_utp": False,
            "enable_outgoing_utp": False,
            "allow_multiple_connections_per_ip": True,
            "upload_rate_limit": 0,
            "download_rate_limit": 0,
            "alert_mask": lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification,
            "user_agent": "minitorrent-bench-reference",
        }
    )


def wait_listening(ses: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ses.wait_for_alert(100)
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.listen_succeeded_alert):
                return
            if isinstance(alert, lt.listen_failed_alert):
                raise SystemExit(f"lt_peer: {alert.message()}")
    raise SystemExit(f"lt_peer: not listening after {timeout} s")


def wait_seeding(ses: Any, handle: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not handle.status().is_seeding:
        if time.monotonic() > deadline:
            st = handle.status()
            raise SystemExit(
                f"lt_peer: not seeding after {timeout} s: state={st.state} "
                f"progress={st.progress:.3f} peers={st.num_peers}"
            )
        ses.wait_for_alert(20)
        for alert in ses.pop_alerts():
            if isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
                raise SystemExit(f"lt_peer: {alert.message()}")


def stdin_lines() -> queue.Queue[str | None]:
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["seed", "leech"])
    parser.add_argument("--torrent", required=True)
    parser.add_argument("--save", required=True)
    parser.add_argument("--listen", required=True, help="IP:PORT")
    parser.add_argument("--connect", action="append", default=[], help="IP:PORT of a peer")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()

    ses = session(args.listen)
    wait_listening(ses, 30)
    say("listening")
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(args.torrent)
    params.save_path = args.save
    lines = stdin_lines()
    if args.role == "seed":
        # A full check first (not seed_mode, which would hash pieces lazily while uploading):
        # minitorrent's seeder also hashed its file before the timed part.
        handle = ses.add_torrent(params)
        wait_seeding(ses, handle, args.timeout)
        say("ready")
    else:
        say("ready")
        if lines.get() != "start":
            return 0
        start = time.perf_counter()
        handle = ses.add_torrent(params)
        for peer in args.connect:
            handle.connect_peer(endpoint(peer))
        wait_seeding(ses, handle, args.timeout)
        say(f"done {time.perf_counter() - start:.6f}")
    while (line := lines.get()) is not None and line != "quit":
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
