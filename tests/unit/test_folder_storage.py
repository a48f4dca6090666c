"""FolderStorage: pieces spanning files, never outside the folder, resume, completion."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import minitorrent.metainfo.build as mi_build
import minitorrent.metainfo.hashing as mi_hashing
from minitorrent.errors import StorageError
from minitorrent.folder import build_folder_info
from minitorrent.metainfo import InfoDict
from minitorrent.peer import folder_storage
from minitorrent.peer.folder_storage import FolderStorage, move_folder_into_place
from minitorrent.peer.parts_file import parts_path
from tests.unit.test_folders import PL, make_tree

SIZES = {"a/big.bin": 3 * PL + 5, "a/c": PL - 5, "a/empty": 0, "é x/s": 10, "z": 2 * PL + 1}


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, InfoDict, bytes]:
    monkeypatch.setattr(mi_build, "AUTO_MIN_PIECE_LENGTH", PL)
    stream = make_tree(tmp_path / "src" / "top", SIZES)
    info, _ = build_folder_info(tmp_path / "src" / "top", "top", "g")
    return tmp_path / "src" / "top", info, stream


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_pieces_written_across_files_give_the_same_tree(
    tmp_path: Path, shared: tuple[Path, InfoDict, bytes]
) -> None:
    src, info, stream = shared
    part = tmp_path / "dl" / "top.part"
    part.parent.mkdir()
    with FolderStorage.create(part, info) as storage:
        assert storage.recheck() == [False] * info.num_pieces  # sparse zeros, not the data
        for index in reversed(range(info.num_pieces)):
            offset = storage.piece_offset(index)
            piece = stream[offset : offset + info.piece_size(index)]
            half = len(piece) // 2
            storage.write_blocks(offset, [piece[:half], memoryview(piece)[half:]])
            assert storage.verify_piece(index)
        storage.sync()
        assert storage.read(0, len(stream)) == stream
        assert storage.recheck() == [True] * info.num_pieces
    move_folder_into_place(part, tmp_path / "dl" / "top")
    assert tree_digest(tmp_path / "dl" / "top") == tree_digest(src)
    assert (tmp_path / "dl" / "top" / "a" / "empty").stat().st_size == 0


def test_created_folders_follow_the_umask(
    tmp_path: Path, shared: tuple[Path, InfoDict, bytes]
) -> None:
    old = os.umask(0o027)
    try:
        FolderStorage.create(tmp_path / "p", shared[1]).close()
    finally:
        os.umask(old)
    assert (tmp_path / "p").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "p" / "a").stat().st_mode & 0o777 == 0o750


def test_create_never_reuses_an_existing_folder(
    tmp_path: Path, shared: tuple[Path, InfoDict, bytes]
) -> None:
    (tmp_path / "p").mkdir()
    with pytest.raises(StorageError, match="already exists; refusing to overwrite"):
        FolderStorage.create(tmp_path / "p", shared[1])


def test_a_link_planted_inside_the_folder_is_not_followed(
    tmp_path: Path, shared: tuple[Path, InfoDict, bytes]
) -> None:
    info = shared[1]
    FolderStorage.create(tmp_path / "p", info).close()
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "p" / "z").unlink()
    os.symlink(outside / "victim", tmp_path / "p" / "z")
    (outside / "victim").write_bytes(bytes(2 * PL + 1))
    with pytest.raises(StorageError):
        FolderStorage.open_existing(tmp_path / "p", info, writable=True)
    (tmp_path / "p" / "z").unlink()
    (tmp_path / "p" / "z").write_bytes(bytes(2 * PL + 1))
    os.rename(tmp_path / "p" / "a", outside / "a")
    os.symlink(outside / "a", tmp_path / "p" / "a")
    with pytest.raises(StorageError):
        FolderStorage.open_existing(tmp_path / "p", info, writable=True)
    assert (outside / "victim").read_bytes() == bytes(2 * PL + 1)


def test_resume_keeps_verified_pieces(tmp_path: Path, shared: tuple[Path, InfoDict, bytes]) -> None:
    _, info, stream = shared
    with FolderStorage.create(tmp_path / "p", info) as storage:
        storage.write_blocks(PL, [stream[PL : 2 * PL]])
    with FolderStorage.open_existing(tmp_path / "p", info, writable=True) as storage:
        storage.lock()
        with pytest.raises(StorageError, match="being written by another process"):
            FolderStorage.open_existing(tmp_path / "p", info, writable=True).lock()
        have = storage.recheck()
        assert have == [i == 1 for i in range(info.num_pieces)]
        assert storage.recheck(trusted=[False, True]) == have


def test_a_file_of_the_wrong_size_is_not_the_shared_folder(
    tmp_path: Path, shared: tuple[Path, InfoDict, bytes]
) -> None:
    src, info, _ = shared
    (src / "é x" / "s").write_bytes(b"longer than before")
    with pytest.raises(StorageError, match="is not the shared file"):
        FolderStorage.open_existing(src, info, writable=False)


def test_more_files_than_kept_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: tuple[Path, InfoDict, bytes]
) -> None:
    src, info, stream = shared
    monkeypatch.setattr(folder_storage, "MAX_OPEN", 1)
    with FolderStorage.open_existing(src, info, writable=False) as storage:
        assert storage.read(0, len(stream)) == stream
        assert all(storage.recheck())


def test_descriptors_closed_for_room_are_never_ones_in_use(
    monkeypatch: pytest.MonkeyPatch, shared: tuple[Path, InfoDict, bytes]
) -> None:
    src, info, stream = shared
    monkeypatch.setattr(folder_storage, "MAX_OPEN", 1)
    monkeypatch.setattr(mi_hashing, "_CHUNK_TARGET", PL)  # both hashing threads read at once
    with FolderStorage.open_existing(src, info, writable=False) as storage:
        for _ in range(20):
            assert all(storage.recheck(workers=2))
        assert storage.read(0, len(stream)) == stream


def test_a_folder_is_flushed_in_one_call_not_one_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: tuple[Path, InfoDict, bytes]
) -> None:
    _, info, stream = shared
    flushed: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (flushed.append(fd), real(fd))[1])
    with FolderStorage.create(tmp_path / "p", info) as storage:
        storage.write_blocks(0, [stream])
        storage.sync()  # a few files: each flushed, no wait for others' writes
        assert len(flushed) == len(info.files)
        monkeypatch.setattr(folder_storage, "SYNCFS_FROM", len(info.files))
        flushed.clear()
        storage.sync()
        assert flushed == []  # one syncfs of the file system instead
        monkeypatch.setattr(folder_storage, "_syncfs", lambda fd: False)  # no syncfs in libc
        storage.sync()
        assert len(flushed) == len(info.files)
    assert tree_digest(tmp_path / "p") == tree_digest(shared[0])


def test_completion_never_replaces_what_appeared(
    tmp_path: Path, shared: tuple[Path, InfoDict, bytes]
) -> None:
    FolderStorage.create(tmp_path / "p", shared[1]).close()
    (tmp_path / "top").mkdir()  # even an empty folder is not replaced
    with pytest.raises(FileExistsError):
        move_folder_into_place(tmp_path / "p", tmp_path / "top")
    assert (tmp_path / "p" / "z").exists()


# -- part of a folder (download_file --only) ------------------------------------------


def test_files_left_out_are_never_created_and_boundary_bytes_kept_aside(
    tmp_path: Path, shared: tuple[Path, InfoDict, bytes]
) -> None:
    _, info, stream = shared
    assert [f.relative for f in info.files] == ["a/big.bin", "a/c", "a/empty", "z", "é x/s"]
    skip = frozenset({0, 3})  # big.bin and z: pieces 3 and 6 are wanted, both shared
    part = tmp_path / "dl" / "top.part"
    part.parent.mkdir()
    with folder_storage.create_storage(part, info, skip=skip) as storage:
        for index in (3, 6):
            offset = storage.piece_offset(index)
            storage.write_blocks(offset, [stream[offset : offset + info.piece_size(index)]])
            assert storage.verify_piece(index)
        storage.sync()
    assert sorted(tree_digest(part)) == ["a/c", "a/empty", "é x/s"]
    parts = parts_path(part, info)
    assert parts.parent == part.parent and parts.name.startswith(".")
    assert os.stat(parts).st_mode & 0o777 == 0o600
    with parts.open("rb") as f:  # the bytes of big.bin and z inside pieces 3 and 6
        f.seek(3 * PL)
        assert f.read(5) == stream[3 * PL : 3 * PL + 5]
        f.seek(6 * PL)
        assert f.read(1) == stream[6 * PL : 6 * PL + 1]
    with folder_storage.open_storage(part, info, writable=False, skip=skip) as storage:
        wanted = {3, 6}
        assert storage.recheck(wanted=wanted) == [i in wanted for i in range(info.num_pieces)]
    move_folder_into_place(part, tmp_path / "dl" / "top")
    with folder_storage.open_storage(tmp_path / "dl" / "top", info, writable=False, skip=skip) as s:
        assert s.verify_piece(3) and s.verify_piece(6)  # served to others from here
        assert not s.verify_piece(0)  # never fetched: read as zeros, not an error


def test_no_parts_file_without_a_shared_piece(
    tmp_path: Path, shared: tuple[Path, InfoDict, bytes]
) -> None:
    _, info, _ = shared
    part = tmp_path / "top.part"
    with folder_storage.create_storage(part, info, skip=frozenset({2})):  # a/empty only
        pass
    assert not (part / "a" / "empty").exists()
    assert not parts_path(part, info).exists()


def test_a_link_planted_as_the_parts_file_is_not_followed(
    tmp_path: Path, shared: tuple[Path, InfoDict, bytes]
) -> None:
    _, info, _ = shared
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    part = tmp_path / "top.part"
    os.symlink(victim, parts_path(part, info))
    with pytest.raises(StorageError, match="cannot open"):
        folder_storage.create_storage(part, info, skip=frozenset({0}))
    assert victim.read_bytes() == b"keep"
