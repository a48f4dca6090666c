"""Interop fixtures: a group whose members run real minitorrent clients."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.driver import Client


@pytest.fixture
def group(make_users: Callable[..., list[Client]]) -> Callable[[int], list[Client]]:
    """group(n): n logged-in clients, users u0..u{n-1}, all members of 'lab' (u0 admin)."""
    return lambda n: make_users(*(f"u{i}" for i in range(n)), group="lab")


@pytest.fixture
def random_file(tmp_path: Path) -> Callable[[str, int], Path]:
    def make(name: str, size: int) -> Path:
        path = tmp_path / "data" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(size))
        return path

    return make
