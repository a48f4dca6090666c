"""A TCP listener that accepts connections and never answers: a hung tracker."""

from __future__ import annotations

import socket
import threading


class SilentServer:
    """A TCP listener that accepts connections and never answers: a hung tracker."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = socket.create_server((host, 0))
        self._sock.settimeout(0.1)  # so that the accept loop notices close()
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)  # held open, never read or answered
            self.accepted += 1

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._sock.close()
        for conn in self._held:
            conn.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
