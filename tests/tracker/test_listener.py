"""The tracker accepts every connection waiting in the listen queue in one turn of its loop,
and pauses accepting (one warning) while the process has no file descriptor left.

uvicorn's server under uvloop accepted one per turn; under load a turn answers every busy
connection, so a burst of new connections waited seconds in the kernel's queue. The
test counts turns of the loop, not time: connections are queued before the server
starts, then the loop may turn a few times.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import shutil
import socket
from contextlib import ExitStack
from pathlib import Path

import pytest

from minitorrent.tracker.app import create_app
from minitorrent.tracker.db import Database
from minitorrent.tracker.listener import Listener
from minitorrent.tracker.server import _listen, _server_for
from minitorrent.tracker.settings import TrackerSettings

from .helpers import FAST_HASH

uvloop = pytest.importorskip("uvloop")

WAITING = 200  # connections in the listen queue when the server starts
TURNS = 10  # turns of the loop they may take: accepting, setting up, connection_made


async def accepted_within_turns(db_url: str) -> tuple[int, int]:
    """(connections the server holds after TURNS turns, connections it still holds after
    those clients close and the server shuts down)."""
    with Database.open(db_url) as database, ExitStack() as clients:
        server = _server_for(
            create_app(TrackerSettings(db_url=db_url, **FAST_HASH), database=database), None
        )
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        sock = _listen("127.0.0.1", 0)
        for _ in range(WAITING):  # the kernel completes each handshake into the queue
            clients.enter_context(socket.create_connection(sock.getsockname()))
        await server.startup(sockets=[sock])
        for _ in range(TURNS):
            await asyncio.sleep(0)
        accepted = len(server.server_state.connections)
        clients.close()
        async with asyncio.timeout(10):
            while server.server_state.connections:  # each sees its client's end
                await asyncio.sleep(0.01)
        await server.shutdown(sockets=[sock])
        return accepted, len(server.server_state.connections)


def test_connections_waiting_to_be_accepted_are_all_accepted_in_a_few_turns(
    sqlite_template: Path, tmp_path: Path
) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "tracker.db")
    accepted, left = uvloop.run(accepted_within_turns(f"sqlite:///{tmp_path / 'tracker.db'}"))
    assert accepted == WAITING
    assert left == 0


class Counted(asyncio.Protocol):
    made = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        Counted.made += 1


async def accept_with_descriptors_exhausted() -> tuple[int, int]:
    """(accepted while no descriptor is left, after TURNS turns; accepted once there are
    again, waited for)."""
    loop = asyncio.get_running_loop()
    sock = _listen("127.0.0.1", 0)
    with socket.create_connection(sock.getsockname()):  # queued before anyone accepts
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        lowest_free = os.dup(0)
        os.close(lowest_free)
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))  # no new descriptor
        try:
            listener = Listener(loop, sock, Counted, ssl_context=None, batch=16)
            for _ in range(TURNS):
                await asyncio.sleep(0)
            while_exhausted = Counted.made
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        async with asyncio.timeout(10):
            while not Counted.made:  # accepting resumes after RETRY_AFTER
                await asyncio.sleep(0.01)
        listener.close()
        await listener.wait_closed()
        return while_exhausted, Counted.made


def test_out_of_descriptors_pauses_accepting_with_one_warning_then_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="minitorrent.tracker.listener"):
        while_exhausted, after = uvloop.run(accept_with_descriptors_exhausted())
    assert (while_exhausted, after) == (0, 1)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["cannot accept connections: Too many open files"]
