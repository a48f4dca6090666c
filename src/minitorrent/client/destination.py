"""Where a download is written: the destination a user gave, checked, and whether a
``.part`` found there can be carried on."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from minitorrent.errors import MinitorrentError, StorageError
from minitorrent.metainfo import InfoDict
from minitorrent.names import safe_file_name
from minitorrent.peer.storage import check_own_file


def resolve_destination(destination: str, name: str) -> Path:
    """An existing directory means <dir>/<name>; otherwise the file to write. A trailing
    slash says "a directory": one that does not exist is refused, not taken as a file."""
    path = Path(destination).expanduser().absolute()
    if destination.endswith(("/", os.sep)) and not path.is_dir():
        missing = "is not a directory" if path.exists() else "does not exist"
        raise MinitorrentError(f"directory {path} {missing}")
    if path.is_dir():
        if path.is_symlink():
            raise MinitorrentError(f"{destination} is a symbolic link; give the real directory")
        path = path / safe_file_name(name)  # a name from the tracker stays in the directory
    elif not path.parent.is_dir():
        raise MinitorrentError(f"directory {path.parent} does not exist")
    if path.is_symlink():
        raise MinitorrentError(f"{path} is a symbolic link; refusing to write through it")
    if path.exists():
        raise MinitorrentError(f"{path} already exists (no overwrite)")
    if not os.access(path.parent, os.W_OK):
        raise MinitorrentError(f"cannot write to {path.parent}: permission denied")
    # The download goes to <name>.part first: that name must fit the file system too.
    longest = _name_max(path.parent)
    if len(os.fsencode(path.name + ".part")) > longest:
        raise MinitorrentError(
            f"the file name is too long for {path.parent} (at most {longest} bytes with "
            "'.part'); give a shorter destination file name"
        )
    return path


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def may_be_part_of(part: Path, info: InfoDict) -> bool:
    """Whether an existing file can be a partial download of `info`: a regular file (not
    a link) of its size, or for a folder a folder (its files are checked when opened)."""
    st = part.lstat()
    if info.is_folder:
        return stat.S_ISDIR(st.st_mode)
    return stat.S_ISREG(st.st_mode) and st.st_size == info.length


def check_own_part(part: Path, info: InfoDict) -> None:
    """A .part file must be ours and writable by us only; a .part folder must be ours
    (its folders follow the umask, and its files are reached without following links)."""
    if not info.is_folder:
        check_own_file(part)
    elif part.lstat().st_uid != os.geteuid():
        raise StorageError(
            f"{part} belongs to another user; not using it (remove it or choose another place)"
        )
