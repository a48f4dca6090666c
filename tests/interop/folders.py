"""A folder shared in the group 'lab', as the folder interop tests start from."""

from __future__ import annotations

from pathlib import Path

from minitorrent.driver import Client
from tests.e2e.sharing_helpers import make_tree, quote


def shared_tree(sharers: list[Client], src: Path) -> tuple[Path, Path]:
    """Make the test tree at `src`, share it from every client of `sharers`, and export it:
    the folder and the .torrent (next to the folder)."""
    make_tree(src)
    for client in sharers:
        client.ok(f"upload_file {quote(src)} lab")
    torrent = src.parent.parent / f"{src.name}.torrent"
    sharers[0].ok(f"export_torrent lab {quote(src.name)} {quote(torrent)}")
    return src, torrent
