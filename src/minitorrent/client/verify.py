"""verify <group> <name>: re-hash this user's local copy of a shared file or folder
against its piece hashes. The info-hash binds those hashes, so a copy whose pieces all
match is the file the group shares; a bad piece is named with its byte range."""

from __future__ import annotations

from pathlib import Path

from minitorrent.client import only
from minitorrent.client.figures import plural
from minitorrent.client.hashing import Hashing
from minitorrent.client.state import ShareRecord, UserState
from minitorrent.errors import MetainfoError, MinitorrentError
from minitorrent.metainfo import InfoDict
from minitorrent.selection import pieces_wanted

MAX_RANGES = 8  # bad ranges named in the error line; the rest are counted


async def verify_copy(state: UserState, hashing: Hashing, group_id: str, name: str) -> str:
    """``ok: ...`` if every piece of the local copy matches; else raises the bad ones."""
    share = _local_copy(state, group_id, name.rstrip("/"))
    try:
        info = InfoDict.decode(share.info)
    except MetainfoError as exc:
        raise MinitorrentError(f"the state file's record of '{name}' is damaged: {exc}") from None
    selection = only.stored(info, share.only)
    skip = only.skipped(selection)
    good = await hashing.check(Path(share.path), info, skip)
    wanted = pieces_wanted(info, skip)
    bad = [i for i, ok in enumerate(good) if not ok and (wanted is None or i in wanted)]
    checked = info.num_pieces if wanted is None else len(wanted)
    if bad:
        raise MinitorrentError(
            f"{share.path}: {len(bad)} of {plural(checked, 'piece')} do not match: "
            + describe_bad(info, bad)
        )
    part = only.part_note(info, skip)  # part of a folder: its chosen files only
    return f"ok: {share.path} matches all {plural(checked, 'piece')} of '{info.name}'{part}"


def _local_copy(state: UserState, group_id: str, name: str) -> ShareRecord:
    """The file or folder this user shares (uploaded or downloaded) as ``name``."""
    for share in state.shares():
        if share.group_id == group_id and share.name == name:
            return share
    for download in state.downloads():
        if download.group_id == group_id and download.name == name:
            raise MinitorrentError(
                f"'{name}' from '{group_id}' is not downloaded yet; verify it once complete"
            )
    raise MinitorrentError(f"you have no copy of '{name}' from '{group_id}' on this machine")


def describe_bad(info: InfoDict, bad: list[int]) -> str:
    """``pieces 3-5 (bytes 786432-1572863), piece 9 (...)``: runs of bad pieces with
    their byte ranges (in a folder: its files back to back, and which files they touch)."""
    runs: list[tuple[int, int]] = []
    for index in bad:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    parts = [_run(info, first, last) for first, last in runs[:MAX_RANGES]]
    if len(runs) > MAX_RANGES:
        parts.append(f"and {plural(len(runs) - MAX_RANGES, 'more range')}")
    return ", ".join(parts)


def _run(info: InfoDict, first: int, last: int) -> str:
    start = first * info.piece_length
    end = min((last + 1) * info.piece_length, info.length)  # exclusive
    pieces = f"piece {first}" if first == last else f"pieces {first}-{last}"
    text = f"{pieces} (bytes {start}-{end - 1}"
    if info.is_folder:
        text += " in " + ", ".join(_files_between(info, start, end))
    return text + ")"


def _files_between(info: InfoDict, start: int, end: int) -> list[str]:
    """The files of a folder that bytes [start, end) of its stream fall in."""
    names = []
    offset = 0
    for entry in info.files:
        if offset < end and start < offset + entry.length:
            names.append(entry.relative)
        offset += entry.length
    return names
