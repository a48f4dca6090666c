"""The one place where the tracker's own HTTP protocol meets uvicorn's internals.

uvicorn builds its `http=` protocol class with (config, server_state, app_state, loop),
none of them public API, and tracks connections in `server_state.connections` for its
graceful shutdown. `UvicornSide` keeps those arguments, reads what http_fast.py needs
from them, and hands a connection (with the bytes already read) to uvicorn's own
protocol, which then serves it as if it had had it from the start. `protocol_factory`
builds connections' protocols the way uvicorn's startup does, for the tracker's own
listener (listener.py). pyproject.toml pins uvicorn to the versions
tests/tracker/test_uvicorn_handover.py was run against.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, Protocol

from minitorrent.tracker.http_guard import GuardedHttpToolsProtocol
from minitorrent.tracker.settings import TrackerSettings


def protocol_factory(server: Any) -> Callable[[], asyncio.Protocol]:
    """What `server` (a uvicorn.Server past its lifespan startup) makes a connection's
    protocol with: the `http=` class, with the arguments uvicorn's startup gives it."""
    config = server.config
    return functools.partial(
        config.http_protocol_class,
        config=config,
        server_state=server.server_state,
        app_state=server.lifespan.state,
    )


class Connection(Protocol):
    """What uvicorn's shutdown needs of a registered connection."""

    def shutdown(self) -> None: ...


class UvicornSide:
    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self._args = (config, server_state, app_state, loop)
        self._connections: set[Any] = server_state.connections
        self.keep_alive_timeout: float = config.timeout_keep_alive
        self.loop = loop or asyncio.get_event_loop()

    def register(self, connection: Connection) -> None:
        self._connections.add(connection)

    def unregister(self, connection: Connection) -> None:
        self._connections.discard(connection)

    def hand_over(
        self,
        connection: Connection,
        transport: asyncio.Transport,
        data: bytes,
        settings: TrackerSettings,
    ) -> asyncio.Protocol:
        """uvicorn's protocol (with the tracker's limits) serves `transport` from now on,
        starting with `data`; the caller forwards what it still receives to the result."""
        self.unregister(connection)  # uvicorn's protocol registers itself instead
        inner = GuardedHttpToolsProtocol(*self._args, settings=settings)
        inner.connection_made(transport)  # registers itself for shutdown
        transport.set_protocol(inner)
        if data:
            inner.data_received(data)
        return inner
