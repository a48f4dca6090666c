"""Entry points: ``minitorrent tracker FILE N`` and ``minitorrent client IP:PORT FILE``.

Only the chosen side is imported, so the client never loads server code.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
import sys
from pathlib import Path

from minitorrent import __version__
from minitorrent.errors import MinitorrentError
from minitorrent.tls import ServerTls


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minitorrent",
        description="Group-based, private peer-to-peer file sharing that speaks BitTorrent.",
    )
    parser.add_argument("--version", action="version", version=f"minitorrent {__version__}")
    sub = parser.add_subparsers(dest="role", required=True, metavar="{tracker,client}")

    tracker = sub.add_parser("tracker", help="run tracker number N of those in the file")
    tracker.add_argument("tracker_info", help="tracker_info.txt")
    tracker.add_argument("number", help="which tracker of the file this is (1, 2, ...)")
    tracker.add_argument(
        "--db",
        metavar="URL",
        help="SQLAlchemy database URL (default: an SQLite file per tracker number "
        "in the user's data directory)",
    )
    tracker.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="serve HTTPS with this PEM certificate (chain); list the tracker as "
        "https://HOST:PORT in tracker_info.txt",
    )
    tracker.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")

    client = sub.add_parser("client", help="run a client that serves peers on IP:PORT")
    client.add_argument("address", metavar="IP:PORT", help="where this client listens for peers")
    client.add_argument("tracker_info", help="tracker_info.txt")
    client.add_argument(
        "--advertise",
        metavar="IP:PORT",
        help="address to give the tracker instead (behind NAT or a port forward)",
    )
    client.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where per-user state lives (default: the user's state directory)",
    )
    client.add_argument(
        "--announce-interval",
        type=int,
        default=30,
        metavar="SECONDS",
        help="how often to re-announce to the tracker (default 30)",
    )
    client.add_argument(
        "--no-peer-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="fail a download after this long without progress or usable peers (default 60)",
    )
    client.add_argument(
        "--tracker-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="timeout of each request to a tracker (default 10)",
    )
    client.add_argument(
        "--peer-idle-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="drop a peer that sends nothing for this long (default 120)",
    )
    client.add_argument(
        "--stall-timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="drop a peer that leaves our requests unanswered this long (default 20)",
    )
    client.add_argument(
        "--script",
        metavar="FILE",
        help="run the commands of FILE instead of those of standard input, then exit",
    )
    client.add_argument(
        "--ca-cert",
        metavar="FILE",
        help="also trust this PEM CA certificate for https:// trackers (a self-signed CA)",
    )
    return parser


def _run_tracker(args: argparse.Namespace) -> int:
    from minitorrent.trackers import load_trackers, pick_tracker

    trackers = load_trackers(args.tracker_info)
    entry = pick_tracker(trackers, args.number)
    tls = _server_tls(args, entry.scheme)
    if len(trackers) > 1 and (args.db or "sqlite").partition(":")[0].startswith("sqlite"):
        print(
            f"warning: this tracker keeps its own SQLite database: it shares no accounts, "
            f"groups or sessions with the other {len(trackers) - 1} tracker(s) of "
            f"{args.tracker_info}; to run several trackers, give each the same "
            "--db postgresql://USER@HOST/DB",
            file=sys.stderr,
            flush=True,
        )
    # Imported once the arguments are known good: a mistake is reported at once.
    from minitorrent.tracker.server import run_tracker

    return run_tracker(
        entry.host,
        entry.port,
        db_url=args.db,
        tracker_number=int(args.number),
        tls=tls,
        tracker_urls=tuple(t.url for t in trackers),
    )


def _server_tls(args: argparse.Namespace, scheme: str) -> ServerTls | None:
    """Both TLS files or neither, matching how tracker_info.txt lists this tracker
    (clients use the scheme of the file)."""
    if bool(args.tls_cert) != bool(args.tls_key):
        raise MinitorrentError("--tls-cert and --tls-key go together")
    if args.tls_cert and scheme != "https":
        raise MinitorrentError(
            "--tls-cert given, but tracker_info.txt lists this tracker without https://; "
            "write it as https://HOST:PORT so that clients use TLS"
        )
    if not args.tls_cert and scheme == "https":
        raise MinitorrentError(
            "tracker_info.txt lists this tracker as https://: give --tls-cert and --tls-key"
        )
    return ServerTls(Path(args.tls_cert), Path(args.tls_key)) if args.tls_cert else None


def _run_client(args: argparse.Namespace) -> int:
    from minitorrent.client.app import ClientOptions, main
    from minitorrent.trackers import load_trackers, parse_endpoint

    host, port = parse_endpoint(args.address)
    advertise = parse_endpoint(args.advertise) if args.advertise else None
    if not 1 <= args.announce_interval <= 3600:
        raise MinitorrentError("--announce-interval must be between 1 and 3600 seconds")
    for option in ("tracker_timeout", "no_peer_timeout", "peer_idle_timeout", "stall_timeout"):
        if not 0 < getattr(args, option) < math.inf:  # also refuses nan
            raise MinitorrentError(
                f"--{option.replace('_', '-')} must be a positive number of seconds"
            )
    if args.state_dir:
        state_dir = Path(args.state_dir)
    else:
        import platformdirs

        state_dir = Path(platformdirs.user_state_dir("minitorrent"))
    options = ClientOptions(
        host=host,
        port=port,
        trackers=load_trackers(args.tracker_info),
        advertise=advertise,
        state_dir=state_dir,
        announce_interval=args.announce_interval,
        no_peer_timeout=args.no_peer_timeout,
        tracker_timeout=args.tracker_timeout,
        ca_cert=Path(args.ca_cert) if args.ca_cert else None,
        peer_idle_timeout=args.peer_idle_timeout,
        stall_timeout=args.stall_timeout,
        script_fd=_open_script(args.script) if args.script else None,
    )
    return main(options)


def _open_script(path: str) -> int:
    """The descriptor of a --script file, opened before anything starts: a wrong path
    is one error line and exit status 2, as other bad arguments."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise MinitorrentError(f"cannot read script {path}: {exc.strerror}") from None
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise MinitorrentError(f"cannot read script {path}: it is a directory")
    return fd


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.role == "tracker":
            return _run_tracker(args)
        return _run_client(args)
    except MinitorrentError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
