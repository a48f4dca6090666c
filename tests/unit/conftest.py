"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

import minitorrent.metainfo.build as mi_build


@pytest.fixture
def pieces_of_256_kib(monkeypatch: pytest.MonkeyPatch) -> None:
    """build_info makes 256 KiB pieces, whatever it now picks for small files: swarm tests
    written for 16 blocks a piece and files of a few pieces keep that geometry."""
    monkeypatch.setattr(mi_build, "AUTO_MIN_PIECE_LENGTH", 256 * 1024)
