"""aria2c (Debian package `aria2`) downloading from minitorrent seeders."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from minitorrent.driver import Client, Process, free_port, wait_until
from tests.e2e.sharing_helpers import quote, tree_hash

from .folders import shared_tree

pytestmark = [
    pytest.mark.interop,
    # `make test` installs aria2; only outside CI may a machine without it skip these.
    pytest.mark.skipif(
        shutil.which("aria2c") is None and not os.environ.get("CI"),
        reason="aria2c is not installed (apt-get install aria2)",
    ),
]


def aria2_command(source: str, out: Path, *options: str) -> list[str]:
    """aria2c on loopback only (no DHT, LPD or peer exchange), saving into `out`."""
    return [
        "aria2c",
        f"--dir={out}",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        f"--listen-port={free_port()}",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--file-allocation=none",
        *options,
        source,
    ]


def aria2c(source: str, out: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """aria2c downloads `source` into `out` and exits once it has everything."""
    return subprocess.run(
        aria2_command(source, out, "--seed-time=0", "--bt-stop-timeout=60"),
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


@contextmanager
def aria2_seeding(torrent: Path, data_dir: Path) -> Iterator[Process]:
    """aria2c checks the data in `data_dir` against the .torrent, then seeds it until the
    block ends."""
    seeder = Process(
        aria2_command(str(torrent), data_dir, "--check-integrity=true", "--seed-ratio=0.0"),
        stdin=subprocess.DEVNULL,
    )
    try:
        yield seeder
    finally:
        seeder.stop()


def folder_peers(client: Client, group: str, name: str) -> int:
    """The peers column of a folder's row of `list_files <group>`."""
    for line in client.ok(f"list_files {group}"):
        match = re.match(rf"^{re.escape(name)}/\s.*\s(\d+)$", line)
        if match:
            return int(match[1])
    raise AssertionError(f"no folder {name}/ in list_files {group}")


def test_aria2_downloads_a_folder_exported_from_two_minitorrent_seeders(
    group: Callable[[int], list[Client]], tmp_path: Path
) -> None:
    """A folder is a standard multi-file torrent: aria2 rebuilds the same tree."""
    src, torrent = shared_tree(group(2), tmp_path / "data" / "course notes")
    out = tmp_path / "aria2"
    result = aria2c(str(torrent), out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert tree_hash(out / "course notes") == tree_hash(src)


def test_minitorrent_downloads_a_folder_from_an_aria2_seeder(
    group: Callable[[int], list[Client]], tmp_path: Path
) -> None:
    alice, bob = group(2)
    src, torrent = shared_tree([alice], tmp_path / "data" / "set")
    assert alice.quit() == 0  # only aria2 has the data now
    wait_until(lambda: folder_peers(bob, "lab", "set") == 0, 30, "alice to leave the swarm")

    with aria2_seeding(torrent, src.parent) as seeder:
        wait_until(
            lambda: seeder.popen.poll() is not None or folder_peers(bob, "lab", "set") == 1,
            60,
            "aria2 to announce itself as a seeder",
        )
        assert seeder.popen.poll() is None, "\n".join(seeder.lines)
        out = tmp_path / "bob"
        out.mkdir()
        bob.ok(f"download_file lab set {quote(out)}")
        bob.ok("wait", timeout=90)
    assert tree_hash(out / "set") == tree_hash(src)
