"""The live status lines of the interactive shell: the file being hashed, each running
download (percent, speed, peers, ETA) and what this client shares. Shown in the bottom
toolbar at the prompt and at the bottom of the screen while a command runs."""

from __future__ import annotations

from minitorrent.client.commands import Client, percent
from minitorrent.client.figures import plural
from minitorrent.peer.swarm import State
from minitorrent.peer.transfer import Transfer, TransferKind
from minitorrent.units import human_size

MAX_DOWNLOAD_LINES = 5


def running_downloads(client: Client) -> list[Transfer]:
    session = client.session
    if session is None:
        return []
    return [
        t
        for t in session.downloads.values()
        if t.kind is TransferKind.DOWNLOAD and t.swarm.state in (State.DOWNLOADING, State.CHECKING)
    ]


def shared_files(client: Client) -> list[Transfer]:
    return [t for t in client.node.transfers.values() if t.kind is TransferKind.SEED]


def status_lines(client: Client) -> list[str]:
    lines = []
    hashing = client.hashing
    if hashing.active:
        lines.append(
            f"hashing {hashing.name} {percent(hashing.done, hashing.size)} "
            f"({human_size(hashing.done)} of {human_size(hashing.size)})"
        )
    downloads = running_downloads(client)
    lines += [client.download_line(t) for t in downloads[:MAX_DOWNLOAD_LINES]]
    if len(downloads) > MAX_DOWNLOAD_LINES:
        lines.append(f"... and {len(downloads) - MAX_DOWNLOAD_LINES} more (show_downloads)")
    seeds = shared_files(client)
    if seeds:
        up = sum(t.swarm.rate_up for t in seeds)
        peers = sum(t.swarm.peer_count() for t in seeds)
        lines.append(
            f"sharing {plural(len(seeds), 'file')}, {human_size(up)}/s up to "
            f"{plural(peers, 'peer')}"
        )
    return lines
