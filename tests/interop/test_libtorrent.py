"""libtorrent (the engine of qBittorrent and Deluge) in a group's swarm."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.driver import Client, free_port, wait_until
from tests.e2e.sharing_helpers import own_peer_id, quote, tree_hash

from .folders import shared_tree
from .ltclient import add_magnet, add_torrent, describe, fetch, is_seeding, session

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("seeders", [1, 2])
def test_libtorrent_downloads_exported_torrent_from_minitorrent_seeders(
    seeders: int,
    group: Callable[[int], list[Client]],
    random_file: Callable[[str, int], Path],
    tmp_path: Path,
) -> None:
    """Seeds show their pieces a few at a time (super-seeding); libtorrent gets them all,
    from two seeds or from one as the only downloader."""
    alice, *others = group(seeders)
    data = random_file("dataset.bin", 6 * 1024 * 1024 + 123)
    for seeder in [alice, *others]:
        seeder.ok(f"upload_file {data} lab")
    torrent = tmp_path / "dataset.torrent"
    alice.ok(f"export_torrent lab dataset.bin {torrent}")

    out = tmp_path / "lt"
    out.mkdir()
    fetch(torrent, out)
    assert (out / "dataset.bin").read_bytes() == data.read_bytes()


def test_minitorrent_downloads_from_a_libtorrent_seeder_announcing_with_a_passkey(
    group: Callable[[int], list[Client]],
    random_file: Callable[[str, int], Path],
    tmp_path: Path,
) -> None:
    alice, bob = group(2)
    data = random_file("paper.pdf", 3 * 1024 * 1024 + 7)
    alice.ok(f"upload_file {data} lab")
    torrent = tmp_path / "paper.torrent"
    alice.ok(f"export_torrent lab paper.pdf {torrent}")
    assert alice.quit() == 0  # alice's own client is gone: only libtorrent has the data

    ses = session(free_port())
    seeder = add_torrent(ses, torrent, data.parent, seed=True)
    wait_until(lambda: is_seeding(seeder), 30, "libtorrent to seed")
    out = tmp_path / "bob"
    out.mkdir()
    bob.ok(f"download_file lab paper.pdf {out}")
    bob.ok("wait", timeout=90)
    assert (out / "paper.pdf").read_bytes() == data.read_bytes()


def test_libtorrent_opens_a_magnet_link_and_fetches_metadata_from_minitorrent(
    group: Callable[[int], list[Client]],
    random_file: Callable[[str, int], Path],
    tmp_path: Path,
) -> None:
    (alice,) = group(1)
    data = random_file("notes.txt", 2 * 1024 * 1024 + 99)
    alice.ok(f"upload_file {data} lab")
    (link,) = alice.ok("magnet lab notes.txt")
    assert link.startswith("magnet:?xt=urn:btih:")

    ses = session(free_port())
    out = tmp_path / "lt"
    out.mkdir()
    handle = add_magnet(ses, link, out)
    try:
        wait_until(lambda: is_seeding(handle), 60, "libtorrent to finish from a magnet link")
    except AssertionError:
        raise AssertionError(describe(handle, ses)) from None
    assert (out / "notes.txt").read_bytes() == data.read_bytes()


def test_mixed_swarm_libtorrent_and_minitorrent_leechers_trade_pieces(
    group: Callable[[int], list[Client]],
    random_file: Callable[[str, int], Path],
    tmp_path: Path,
) -> None:
    seeder, leecher = group(2)
    data = random_file("video.mkv", 24 * 1024 * 1024)
    seeder.ok(f"upload_file {data} lab")
    torrent = tmp_path / "video.torrent"
    leecher.ok(f"export_torrent lab video.mkv {torrent}")

    ses = session(free_port())
    out_lt, out_mt = tmp_path / "lt", tmp_path / "mt"
    out_lt.mkdir()
    out_mt.mkdir()
    handle = add_torrent(ses, torrent, out_lt)
    # Slow libtorrent down so that the two leechers overlap for a while.
    handle.set_download_limit(2 * 1024 * 1024)
    leecher.ok(f"download_file lab video.mkv {out_mt}")
    exchanged: dict[bytes, int] = {}

    def lt_done() -> bool:
        for peer in handle.get_peer_info():
            pid = bytes(peer.pid.to_bytes()) if hasattr(peer.pid, "to_bytes") else bytes(peer.pid)
            exchanged[pid] = max(exchanged.get(pid, 0), peer.total_download + peer.total_upload)
        return is_seeding(handle)

    try:
        wait_until(lt_done, 90, "libtorrent to finish")
    except AssertionError:
        raise AssertionError(describe(handle, ses)) from None
    leecher.ok("wait", timeout=90)
    assert (out_lt / "video.mkv").read_bytes() == data.read_bytes()
    assert (out_mt / "video.mkv").read_bytes() == data.read_bytes()
    leecher_id = own_peer_id(leecher)
    traded = sum(n for pid, n in exchanged.items() if pid.hex() == leecher_id)
    assert traded > 0, f"no bytes between libtorrent and the minitorrent leecher: {exchanged}"


def test_libtorrent_downloads_a_folder_exported_from_two_minitorrent_seeders(
    group: Callable[[int], list[Client]], tmp_path: Path
) -> None:
    """A folder is a standard multi-file torrent: the same info-hash, the same tree."""
    src, torrent = shared_tree(group(2), tmp_path / "data" / "course notes")

    out = tmp_path / "lt"
    out.mkdir()
    fetch(torrent, out)
    assert tree_hash(out / "course notes") == tree_hash(src)


def test_minitorrent_downloads_a_folder_from_a_libtorrent_seeder(
    group: Callable[[int], list[Client]], tmp_path: Path
) -> None:
    alice, bob = group(2)
    src, torrent = shared_tree([alice], tmp_path / "data" / "set")
    assert alice.quit() == 0  # only libtorrent has the data now

    ses = session(free_port())
    seeder = add_torrent(ses, torrent, src.parent, seed=True)
    wait_until(lambda: is_seeding(seeder), 30, "libtorrent to seed")
    out = tmp_path / "bob"
    out.mkdir()
    bob.ok(f"download_file lab set {quote(out)}")
    bob.ok("wait", timeout=90)
    assert tree_hash(out / "set") == tree_hash(src)
