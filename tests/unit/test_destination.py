"""Where a download may be written: resolve_destination with hostile names and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorrent.client.destination import resolve_destination
from minitorrent.errors import MinitorrentError


def test_a_directory_means_the_file_name_inside_it(tmp_path: Path) -> None:
    assert resolve_destination(str(tmp_path), "a b.txt") == tmp_path / "a b.txt"
    assert resolve_destination(str(tmp_path / "other.txt"), "x") == tmp_path / "other.txt"


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a\\b", "..", ".", "nul\0", ""])
def test_a_hostile_name_never_leaves_the_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(MinitorrentError):
        resolve_destination(str(tmp_path), name)


@settings(max_examples=300, deadline=None)
@given(name=st.text(min_size=1, max_size=300) | st.sampled_from(["..", "../x", "/", "\\", "."]))
def test_any_accepted_name_lands_directly_in_the_directory(name: str) -> None:
    base = Path(os.environ.get("TMPDIR", "/tmp")).absolute()
    try:
        path = resolve_destination(str(base), name)
    except MinitorrentError:
        return  # refused: fine, nothing written anywhere
    assert path.parent == base and path.name == name


def test_a_symlinked_directory_or_file_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    with pytest.raises(MinitorrentError, match="symbolic link"):
        resolve_destination(str(tmp_path / "link"), "f.bin")
    (tmp_path / "f.bin").symlink_to(elsewhere / "f.bin")  # dangling, on purpose
    with pytest.raises(MinitorrentError, match="symbolic link"):
        resolve_destination(str(tmp_path), "f.bin")
    with pytest.raises(MinitorrentError, match="symbolic link"):
        resolve_destination(str(tmp_path / "f.bin"), "x")
    assert not (elsewhere / "f.bin").exists()


def test_nothing_is_overwritten_and_the_directory_must_exist(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"mine")
    with pytest.raises(MinitorrentError, match="already exists"):
        resolve_destination(str(tmp_path), "f.bin")
    with pytest.raises(MinitorrentError, match="does not exist"):
        resolve_destination(str(tmp_path / "no" / "f.bin"), "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == b"mine"


@pytest.mark.parametrize(("length", "ok"), [(250, True), (251, False), (255, False)])
def test_the_part_file_name_must_fit_the_file_system(tmp_path: Path, length: int, ok: bool) -> None:
    name = "n" * length  # + ".part": 255 bytes is the usual limit
    if ok:
        assert resolve_destination(str(tmp_path), name).name == name
    else:
        with pytest.raises(MinitorrentError, match=r"too long .*shorter destination"):
            resolve_destination(str(tmp_path), name)
        short = tmp_path / "short.bin"  # the way out the message suggests
        assert resolve_destination(str(short), name) == short


def test_a_trailing_slash_means_an_existing_directory(tmp_path: Path) -> None:
    assert resolve_destination(f"{tmp_path}/", "f.bin") == tmp_path / "f.bin"
    with pytest.raises(MinitorrentError, match=r"^directory .*nodir does not exist$"):
        resolve_destination(f"{tmp_path}/nodir/", "f.bin")
    (tmp_path / "file").write_bytes(b"mine")
    with pytest.raises(MinitorrentError, match=r"^directory .*file is not a directory$"):
        resolve_destination(f"{tmp_path}/file/", "f.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
