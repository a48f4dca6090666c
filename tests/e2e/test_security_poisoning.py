"""Poisoning: peers slipping bad blocks into pieces an honest seeder also serves. The
download completes, blame falls on the poisoners' member alone (every peer id it runs),
never on the honest seeder."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from minitorrent.driver import Client
from minitorrent.metainfo import InfoDict

from .sharing_helpers import (
    FakePeer,
    MiB,
    download_line,
    honest_blocks,
    member,
    own_peer_id,
    peers,
    quote,
    write_random,
)

MakeUsers = Callable[..., list[Client]]


class OneBadBlockPerPiece:
    """Honest data, except the first block it serves of each piece: garbage, after
    which it chokes the downloader for a while (so that others fill in that piece)."""

    def __init__(self, data: bytes, info: InfoDict) -> None:
        self.honest = honest_blocks(data, info)
        self.bad: set[tuple[int, int]] = set()  # (piece, offset) of the bad blocks sent
        self._lock = threading.Lock()

    def __call__(self, index: int, begin: int, length: int) -> bytes:
        good = self.honest(index, begin, length)
        with self._lock:
            if any(piece == index for piece, _ in self.bad):
                return good
            self.bad.add((index, begin))
        return bytes(b ^ 0x5A for b in good)

    def choke_after(self, index: int, begin: int) -> float:
        with self._lock:
            return 0.5 if (index, begin) in self.bad else 0.0


def test_two_poisoners_get_banned_and_the_honest_seeder_never(
    make_users: MakeUsers, tracker_info: Path, tmp_path: Path
) -> None:
    ann, dan = make_users("ann", "dan")
    src = tmp_path / "seed" / "data.bin"
    data = write_random(src, 16 * MiB, seed=21)
    ann.ok(f"upload_file {quote(src)} lab")
    # mal, one member, runs two poisoning peers and one that serves good data.
    mal = member(tracker_info, ann, "mal")
    info = mal.file_info("lab", "data.bin")
    sources = [OneBadBlockPerPiece(data, info) for _ in range(2)]
    poisoners = [FakePeer(mal, info, s, choke_after=s.choke_after) for s in sources]
    poisoners.append(FakePeer(mal, info, honest_blocks(data, info)))
    dest = tmp_path / "data.bin"
    try:
        dan.ok(f"download_file lab data.bin {quote(dest)}")
        assert dan.ok("wait", timeout=120) == ["1 download(s) complete"]
    finally:
        for poisoner in poisoners:
            poisoner.close()
    assert dest.read_bytes() == data
    assert download_line(dan, "lab", "data.bin") == "[C] [lab] data.bin"
    assert all(source.bad for source in sources), "no bad block sent"
    marks = {pid: line.mark for pid, line in peers(dan, "data.bin").items()}
    assert marks[own_peer_id(ann)] != "banned"
    # A member counts as one: its good peer id is banned with the two that lied.
    assert [marks[p.peer_id.hex()] for p in poisoners] == ["banned"] * 3
    mal.close()
