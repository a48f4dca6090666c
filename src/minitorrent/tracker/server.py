"""run_tracker: serve the tracker until "quit" on stdin, SIGINT or SIGTERM (exit status 0).

End of standard input does not stop it: trackers often run with stdin=/dev/null.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from minitorrent.errors import ConfigError
from minitorrent.tls import ServerTls
from minitorrent.tracker.app import create_app
from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.db import Database, default_db_url, display_url
from minitorrent.tracker.http_fast import TrackerHttpProtocol
from minitorrent.tracker.listener import Listener
from minitorrent.tracker.settings import TrackerSettings, settings_error
from minitorrent.tracker.uvicorn_handover import protocol_factory

GRACEFUL_SHUTDOWN_S = 5


class _Server(uvicorn.Server):
    """A uvicorn server whose signals we handle ourselves.

    uvicorn re-raises a captured SIGINT/SIGTERM after shutting down, which would end
    the process with a non-zero status; a tracker stopped on purpose exits 0.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup (lifespan first), but our listener accepts the connections:
        uvicorn's server, through uvloop, accepted one per turn of the loop (listener.py)."""
        await super().startup(sockets=[])
        if not self.started:
            return
        loop = asyncio.get_running_loop()
        factory = protocol_factory(self)
        ssl_context = self.config.ssl
        for sock in sockets or []:
            listener = Listener(loop, sock, factory, ssl_context=ssl_context, batch=LISTEN_BACKLOG)
            self.servers.append(listener)  # type: ignore[arg-type]  # close, wait_closed


class _Shutdown:
    """Asks the server to stop, whether it is already running or not."""

    def __init__(self) -> None:
        self.requested = False
        self.server: _Server | None = None

    def attach(self, server: _Server) -> None:
        self.server = server
        server.should_exit = self.requested

    def request(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if self.requested and signum == signal.SIGINT and self.server is not None:
            self.server.force_exit = True  # a second Ctrl-C skips the graceful wait
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True


@contextmanager
def _signals_stop(shutdown: _Shutdown) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals; an embedder handles them
        return
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, shutdown.request) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _watch_stdin(fd: int, shutdown: _Shutdown) -> None:
    """Stop on a "quit" line. Raw os.read, not sys.stdin: a daemon thread blocked
    inside a buffered reader can abort the interpreter at exit."""
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return  # end of input: keep serving
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            command = line.strip()
            if command == b"quit":
                shutdown.request()
                return
            if command:
                print("tracker: the only command is 'quit'", file=sys.stderr, flush=True)


LISTEN_BACKLOG = 4096  # the kernel caps it at net.core.somaxconn


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Python's default backlog is 128; a tracker's clients arrive in bursts (1,000
    # connects at once under wrk -c1000 overflowed it).
    return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)


def _url(host: str, port: int, scheme: str) -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _server_for(app: FastAPI, tls: ServerTls | None) -> _Server:
    context: TrackerContext = app.state.context
    config = uvicorn.Config(
        app,
        ssl_certfile=tls.cert if tls else None,
        ssl_keyfile=tls.key if tls else None,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        # BitTorrent announces are answered by our protocol, the rest by uvicorn's.
        http=functools.partial(TrackerHttpProtocol, context=context),  # type: ignore[arg-type]
        # The address a request came from is the socket's: X-Forwarded-For from a local
        # process would otherwise choose the IP that login throttling counts.
        proxy_headers=False,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return _Server(config)


def run_tracker(
    host: str,
    port: int,
    *,
    db_url: str | None = None,
    tracker_number: int = 1,
    stdin_fd: int | None = 0,
    tls: ServerTls | None = None,
    **overrides: Any,
) -> int:
    """Serve until told to stop; return the exit status. `overrides` are TrackerSettings
    fields (e.g. session_idle_ttl=60); `stdin_fd=None` ignores standard input; with
    `tls` the API is HTTPS only."""
    shutdown = _Shutdown()
    with _signals_stop(shutdown):
        url = db_url or default_db_url(tracker_number)
        try:
            settings = TrackerSettings(db_url=url, **overrides)
        except ValidationError as exc:
            print(f"error: {settings_error(exc)}", file=sys.stderr)
            return 1
        try:
            if tls is not None:
                tls.check()
            database = Database.open(url)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        try:
            try:
                sock = _listen(host, port)
            except OSError as exc:
                print(f"error: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
                return 1
            server = _server_for(create_app(settings, database=database), tls)
            shutdown.attach(server)
            where = _url(host, sock.getsockname()[1], "https" if tls else "http")
            print(
                f"tracker {tracker_number} listening on {where} (database: {display_url(url)})",
                flush=True,
            )
            if stdin_fd is not None:
                threading.Thread(
                    target=_watch_stdin, args=(stdin_fd, shutdown), name="stdin", daemon=True
                ).start()
            server.run(sockets=[sock])
            return 0
        finally:
            database.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minitorrent.tracker.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", help="SQLAlchemy URL (default: SQLite in the user data dir)")
    parser.add_argument("--tracker-number", type=int, default=1)
    args = parser.parse_args(argv)
    return run_tracker(args.host, args.port, db_url=args.db, tracker_number=args.tracker_number)


if __name__ == "__main__":
    sys.exit(main())
