"""The client process: a tracker client, a peer node, the commands, and a front end
that reads them (script lines, or the interactive terminal) wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from minitorrent import __version__
from minitorrent.client.commands import Client
from minitorrent.client.script_input import numbered_lines
from minitorrent.client.shell import Shell
from minitorrent.errors import MinitorrentError
from minitorrent.peer.node import PeerNode
from minitorrent.peer.tracker_client import TrackerClient
from minitorrent.tls import client_context
from minitorrent.trackers import TrackerAddress

STDIN = 0  # the descriptor, not sys.stdin: that is None when started without one


@dataclass(frozen=True)
class ClientOptions:
    host: str
    port: int
    trackers: list[TrackerAddress]
    advertise: tuple[str, int] | None
    state_dir: Path
    announce_interval: int
    no_peer_timeout: float
    tracker_timeout: float
    ca_cert: Path | None = None  # a CA to trust for https:// trackers
    peer_idle_timeout: float = 120.0
    stall_timeout: float = 20.0  # drop a peer that leaves requested blocks unanswered
    script_fd: int | None = None  # read commands from this file (--script), not stdin


async def run_client(options: ClientOptions) -> int:
    script_fd = STDIN if options.script_fd is None else options.script_fd
    interactive = options.script_fd is None and os.isatty(STDIN) and sys.stdout.isatty()
    # The system's CAs cost ~2 MiB once loaded: without --ca-cert they are loaded at the
    # first https:// request (a wrong --ca-cert is still reported at start).
    verify = client_context(options.ca_cert) if options.ca_cert else None
    tracker = TrackerClient(options.trackers, timeout=options.tracker_timeout, verify=verify)
    peer_id = b"-MT0100-" + secrets.token_bytes(12)
    shell_ref: list[Shell] = []

    def notify(text: str) -> None:  # the shell exists only once the node has started
        if shell_ref:
            shell_ref[0].notice(text)

    node = PeerNode(
        host=options.host,
        port=options.port,
        advertise=options.advertise,
        tracker=tracker,
        peer_id=peer_id,
        announce_interval=options.announce_interval,
        no_peer_timeout=options.no_peer_timeout,
        idle_timeout=options.peer_idle_timeout,
        stall_timeout=options.stall_timeout,
        notify=notify,
    )
    try:
        await node.start()
    except MinitorrentError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        await tracker.aclose()
        return 2
    client = Client(
        tracker=tracker,
        node=node,
        state_dir=options.state_dir,
        notify=notify,
    )
    shell = Shell(client, sys.stdout, sys.stderr, interactive=interactive)
    shell_ref.append(shell)
    if interactive:
        shell.say(
            f"minitorrent {__version__}: peer on {options.host}:{options.port}, "
            f"tracker {tracker.current}. Type help for commands."
        )
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    signalled = False

    def on_signal() -> None:
        nonlocal signalled
        if signalled:
            return
        signalled = True
        shell.stop_event.set()
        main_task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        if interactive:
            # prompt_toolkit costs ~7 MiB of memory: a client run from a script or a
            # service never loads it.
            from minitorrent.client import interactive as terminal

            await terminal.run(shell, options.state_dir / "history")
        else:
            async for number, line in numbered_lines(script_fd):
                await shell.run_line(line, number)
                if shell.quit_requested:
                    break
    except asyncio.CancelledError:
        if not signalled:
            raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown(), 15)
        await node.close()
        await tracker.aclose()
    if signalled and not shell.failed:
        return 0
    return 1 if shell.failed else 0


def main(options: ClientOptions) -> int:
    logging.basicConfig(
        level=os.environ.get("MINITORRENT_LOG", "WARNING").upper(),
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Past a file size limit (ulimit -f) a write then fails with EFBIG, which storage
    # reports as a failed download, instead of SIGXFSZ killing the whole client.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        import uvloop

        return int(uvloop.run(run_client(options)))
    except ImportError:
        return asyncio.run(run_client(options))
