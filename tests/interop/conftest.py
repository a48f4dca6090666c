"""Interop fixtures: a group whose members run real minitorrent clients."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.driver import Client


@pytest.fixture
def group(make_client: Callable[..., Client]) -> Callable[[int], list[Client]]:
    """make(n): n logged-in clients, users u0..u{n-1}, all members of group 'lab' (u0 admin)."""

    def make(n: int) -> list[Client]:
        clients = [make_client() for _ in range(n)]
        for i, client in enumerate(clients):
            client.ok(f"create_user u{i} pw{i}")
            client.ok(f"login u{i} pw{i}")
        clients[0].ok("create_group lab")
        for i, client in enumerate(clients[1:], start=1):
            client.ok("join_group lab")
            clients[0].ok(f"accept_request lab u{i}")
        return clients

    return make


@pytest.fixture
def random_file(tmp_path: Path) -> Callable[[str, int], Path]:
    def make(name: str, size: int) -> Path:
        path = tmp_path / "data" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(size))
        return path

    return make
