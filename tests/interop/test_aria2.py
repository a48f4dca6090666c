"""aria2c (Debian package `aria2`) downloading from minitorrent seeders."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.driver import Client, free_port

pytestmark = [
    pytest.mark.interop,
    # `make test` installs aria2; only outside CI may a machine without it skip these.
    pytest.mark.skipif(
        shutil.which("aria2c") is None and not os.environ.get("CI"),
        reason="aria2c is not installed (apt-get install aria2)",
    ),
]


def aria2c(source: str, out: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    port = free_port()
    return subprocess.run(
        [
            "aria2c",
            f"--dir={out}",
            "--seed-time=0",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            f"--listen-port={port}",
            "--bt-stop-timeout=60",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--file-allocation=none",
            source,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_aria2_downloads_a_torrent_from_minitorrent_seeders(
    group: Callable[[int], list[Client]],
    random_file: Callable[[str, int], Path],
    tmp_path: Path,
) -> None:
    alice, bob = group(2)
    data = random_file("scan.tiff", 5 * 1024 * 1024 + 11)
    alice.ok(f"upload_file {data} lab")
    bob.ok(f"upload_file {data} lab")
    torrent = tmp_path / "scan.torrent"
    bob.ok(f"export_torrent lab scan.tiff {torrent}")
    out = tmp_path / "aria2"
    result = aria2c(str(torrent), out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "scan.tiff").read_bytes() == data.read_bytes()


def test_aria2_downloads_from_a_private_magnet_link(
    group: Callable[[int], list[Client]],
    random_file: Callable[[str, int], Path],
    tmp_path: Path,
) -> None:
    (alice,) = group(1)
    data = random_file("slides.odp", 1024 * 1024 + 5)
    alice.ok(f"upload_file {data} lab")
    (link,) = alice.ok("magnet lab slides.odp")
    out = tmp_path / "aria2"
    result = aria2c(link, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "slides.odp").read_bytes() == data.read_bytes()
