"""The live status lines of the interactive shell: the file being hashed, each running
download (percent, speed, peers, ETA) and what this client shares. Shown in the bottom
toolbar at the prompt and at the bottom of the screen while a command runs."""

from __future__ import annotations

from minitorrent.client.commands import Client, human_size, percent
from minitorrent.peer.node import Transfer
from minitorrent.peer.swarm import State

MAX_DOWNLOAD_LINES = 5


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def duration(seconds: float) -> str:
    """0:41, 12:05, 1:02:03."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def running_downloads(client: Client) -> list[Transfer]:
    session = client.session
    if session is None:
        return []
    return [
        t
        for t in session.downloads.values()
        if t.kind == "download" and t.swarm.state in (State.DOWNLOADING, State.CHECKING)
    ]


def shared_files(client: Client) -> list[Transfer]:
    return [t for t in client.node.transfers.values() if t.kind == "seed"]


def download_line(transfer: Transfer) -> str:
    st = transfer.swarm.status()
    head = f"[D] [{transfer.group_id}] {transfer.name} {percent(st.bytes_done, st.length)}"
    if st.state is State.CHECKING:
        return f"{head} checking the whole file"
    line = f"{head} {human_size(st.rate_down)}/s {plural(st.peers, 'peer')}"
    if st.rate_down > 0:
        line += f" ETA {duration((st.length - st.bytes_done) / st.rate_down)}"
    return line


def status_lines(client: Client) -> list[str]:
    lines = []
    hashing = client.hashing
    if hashing.active:
        lines.append(
            f"hashing {hashing.name} {percent(hashing.done, hashing.size)} "
            f"({human_size(hashing.done)} of {human_size(hashing.size)})"
        )
    downloads = running_downloads(client)
    lines += [download_line(t) for t in downloads[:MAX_DOWNLOAD_LINES]]
    if len(downloads) > MAX_DOWNLOAD_LINES:
        lines.append(f"... and {len(downloads) - MAX_DOWNLOAD_LINES} more (show_downloads)")
    seeds = shared_files(client)
    if seeds:
        up = sum(t.swarm.rate_up for t in seeds)
        peers = sum(len(t.swarm.peers) for t in seeds)
        lines.append(
            f"sharing {plural(len(seeds), 'file')}, {human_size(up)}/s up to "
            f"{plural(peers, 'peer')}"
        )
    return lines
