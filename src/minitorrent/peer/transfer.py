"""A transfer: one swarm of a client plus what the client knows about it, and what a
transfer that ended leaves on disk."""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from minitorrent.peer.parts_file import parts_path
from minitorrent.peer.swarm import Swarm

log = logging.getLogger(__name__)


class TransferKind(enum.Enum):
    DOWNLOAD = "download"
    SEED = "seed"  # a shared file, or a download that finished


@dataclass
class Transfer:
    """A swarm plus what the client needs to know about it."""

    group_id: str
    name: str
    swarm: Swarm
    kind: TransferKind
    path: Path  # the file served / being written
    destination: Path | None = None  # downloads: final path
    started_at: float = 0.0
    finished_at: float | None = None
    announce_task: asyncio.Task[None] | None = None
    event: asyncio.Event | None = None  # set when a download ends (done or failed)
    failure_reported: bool = False
    progress_dirty: bool = False  # pieces verified since resume data was last saved
    unflushed: int = 0  # bytes verified since the last background flush to disk
    flushing: bool = False  # a background flush is running
    announced: asyncio.Event = field(default_factory=asyncio.Event)  # first announce tried
    skip: frozenset[int] = frozenset()  # files of a folder not wanted (download_file --only)

    @property
    def info_hash(self) -> bytes:
        return self.swarm.info_hash


def drop_empty_part(transfer: Transfer) -> None:
    """A download that ended (failed or cancelled) before a single piece was verified
    leaves nothing behind: there is nothing worth resuming in its .part."""
    if transfer.kind is TransferKind.DOWNLOAD and transfer.swarm.status().have == 0:
        if transfer.swarm.info.is_folder:
            remove_part_folder(transfer.path)
            if transfer.skip:  # part of a folder: its parts file holds nothing either
                unlink_quietly(parts_path(transfer.path, transfer.swarm.info))
        else:
            unlink_quietly(transfer.path)


def remove_part_folder(path: Path) -> None:
    """Remove a .part folder of ours (rmtree does not follow links inside it)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
    except OSError as exc:  # best effort, as for a file
        log.info("cannot remove %s: %s", path, exc.strerror)


def unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # best effort: the download's own outcome stands
        log.info("cannot remove %s: %s", path, exc.strerror)
