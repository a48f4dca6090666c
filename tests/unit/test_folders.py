"""Folders as v1 multi-file info dicts: path rules, limits, scanning and hashing."""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path

import pytest
from fastbencode import bencode  # type: ignore[attr-defined]
from hypothesis import given
from hypothesis import strategies as st

import minitorrent.metainfo.build as mi_build
import minitorrent.metainfo.hashing as mi_hashing
from minitorrent.errors import MetainfoError, StorageError
from minitorrent.file_list import FileEntry, FolderLimits, Layout, check_files
from minitorrent.folder import build_folder_info, scan_folder
from minitorrent.metainfo import InfoDict

PL = 16 * 1024


def folder_dict(files: list[tuple[list[bytes], int]], **extra: object) -> bytes:
    total = sum(length for _, length in files)
    d: dict[bytes, object] = {
        b"name": b"top",
        b"piece length": PL,
        b"pieces": bytes(20 * -(-total // PL)),
        b"private": 1,
        b"source": b"g",
        b"files": [{b"length": n, b"path": p} for p, n in files],
    }
    d.update({k.encode(): v for k, v in extra.items()})
    return bytes(bencode(d))


def test_a_folder_round_trips_with_the_same_info_hash() -> None:
    raw = folder_dict([([b"a", b"b.txt"], 3), ([b"c d \xc3\xa9"], 0), ([b".hidden"], PL + 1)])
    info = InfoDict.decode(raw)
    assert info.is_folder
    assert info.length == PL + 4
    assert [f.relative for f in info.files] == ["a/b.txt", "c d é", ".hidden"]
    assert info.encode() == raw
    assert info.info_hash == hashlib.sha1(raw).digest()


HOSTILE: list[tuple[str, bytes, str]] = [
    ("dot dot", folder_dict([([b"..", b"x"], 1)]), "not a file name"),
    ("dot", folder_dict([([b".", b"x"], 1)]), "not a file name"),
    ("empty element", folder_dict([([b"a", b""], 1)]), "empty"),
    ("absolute", folder_dict([([b"/etc", b"x"], 1)]), "path separator"),
    ("slash inside", folder_dict([([b"a/b"], 1)]), "path separator"),
    ("backslash inside", folder_dict([([b"a\\b"], 1)]), "path separator"),
    ("NUL", folder_dict([([b"a\x00"], 1)]), "U+0000"),
    ("newline", folder_dict([([b"a\nb"], 1)]), "U+000A"),
    ("bidi override", folder_dict([(["x\u202etxt.exe".encode()], 1)]), "U+202E"),
    ("zero width", folder_dict([(["a\u200bb".encode()], 1)]), "U+200B"),
    ("too long element", folder_dict([([b"a" * 256], 1)]), "too long"),
    ("not utf-8", folder_dict([([b"\xff"], 1)]), "UTF-8"),
    ("empty path", folder_dict([([], 1)]), "empty path"),
    ("duplicate", folder_dict([([b"a"], 1), ([b"a"], 1)]), "both named"),
    ("case collision", folder_dict([([b"Readme"], 1), ([b"README"], 1)]), "both named"),
    (
        "normalisation collision",
        folder_dict([(["\u00e9".encode()], 1), (["e\u0301".encode()], 1)]),
        "both named",
    ),
    ("file under a file", folder_dict([([b"a"], 1), ([b"a", b"b"], 1)]), "also a folder"),
    ("file under a file, folded", folder_dict([([b"A"], 1), ([b"a", b"b"], 1)]), "also a folder"),
    ("no files", folder_dict([]), "non-empty list"),
    ("negative length", folder_dict([([b"a"], -1)]), "invalid length"),
    (
        "path not a list",
        folder_dict([]).replace(b"5:filesle", b"5:filesld6:lengthi1e4:path1:aee"),
        "list of strings",
    ),
    (
        "extra key in a file",
        bencode(
            {
                b"files": [{b"length": 1, b"path": [b"a"], b"md5sum": b"0"}],
                b"name": b"t",
                b"piece length": PL,
                b"pieces": bytes(20),
                b"private": 1,
                b"source": b"g",
            }
        ),
        "exactly",
    ),
    ("length and files", folder_dict([([b"a"], 1)], length=1), "both"),
    ("path too long", folder_dict([([b"d" * 200] * 21, 1)]), "too long"),
]


@pytest.mark.parametrize(
    ("raw", "why"), [(r, w) for _, r, w in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_hostile_folder_info_dicts_are_refused(raw: bytes, why: str) -> None:
    with pytest.raises(MetainfoError, match=re.escape(why)):
        InfoDict.decode(raw)


def test_configurable_limits_give_clear_errors() -> None:
    files = tuple(FileEntry((f"f{i}",), 1) for i in range(3))
    with pytest.raises(MetainfoError, match="the folder has 3 files; at most 2 are allowed"):
        check_files("top", files, FolderLimits(max_files=2))
    with pytest.raises(MetainfoError, match=r"the path top/f0 is too long \(6 bytes"):
        check_files("top", files, FolderLimits(max_path_bytes=5))
    check_files("top", files, FolderLimits(max_files=3, max_path_bytes=6))


element = st.text(min_size=1, max_size=8)


@given(st.lists(st.lists(element, min_size=1, max_size=3), min_size=1, max_size=6))
def test_accepted_file_lists_are_safe_and_distinct(paths: list[list[str]]) -> None:
    files = tuple(FileEntry(tuple(p), 1) for p in paths)
    try:
        check_files("top", files)
    except MetainfoError:
        return
    keys = ["/".join(f.path).casefold() for f in files]
    assert len(set(keys)) == len(keys)
    for f in files:
        for e in f.path:
            assert e not in (".", "..") and "/" not in e and "\\" not in e and "\x00" not in e
    for k in keys:
        assert not any(other.startswith(k + "/") for other in keys)


@given(st.lists(st.integers(0, 3 * PL), min_size=1, max_size=8), st.integers(0, 4 * PL))
def test_layout_spans_cover_a_range_exactly(lengths: list[int], offset: int) -> None:
    layout = Layout([FileEntry((f"f{i}",), n) for i, n in enumerate(lengths)])
    offset = min(offset, layout.length)
    size = min(PL, layout.length - offset)
    spans = list(layout.spans(offset, size))
    assert sum(n for *_, n in spans) == size
    pos = offset
    for index, file_offset, n in spans:
        assert layout.starts[index] + file_offset == pos
        assert n > 0 and file_offset + n <= lengths[index]
        pos += n


def make_tree(root: Path, sizes: dict[str, int]) -> bytes:
    """Create files (sorted-path order gives the stream); return the stream."""
    stream = b""
    for rel in sorted(sizes, key=lambda r: tuple(r.split("/"))):
        data = os.urandom(sizes[rel])
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stream += data
    return stream


@pytest.mark.parametrize("workers", [1, 2])
def test_a_folder_is_hashed_across_file_boundaries(
    tmp_path: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mi_hashing, "_CHUNK_TARGET", 2 * PL)  # several chunks: the threaded path
    monkeypatch.setattr(mi_build, "AUTO_MIN_PIECE_LENGTH", PL)
    root = tmp_path / "top"
    sizes = {"a/big.bin": 3 * PL + 5, "a/empty": 0, "b/at boundary": 0, ".hidden": 7}
    sizes.update({f"many/é {i}": 100 + i for i in range(40)})
    # A 0-byte file exactly where a piece ends: "a/big.bin" + "a/empty" then pad to 4 PL.
    sizes["a/c"] = 4 * PL - (3 * PL + 5)
    stream = make_tree(root, sizes)
    os.symlink(root / ".hidden", root / "link")
    (root / "emptydir").mkdir()
    info, scan = build_folder_info(root, "top", "g", workers=workers)
    expected = b"".join(
        hashlib.sha1(stream[i : i + PL]).digest() for i in range(0, len(stream), PL)
    )
    assert info.pieces == expected
    assert info.length == len(stream)
    assert scan.skipped == 1 and scan.empty_folders == 1
    assert [f.relative for f in info.files][:4] == [".hidden", "a/big.bin", "a/c", "a/empty"]
    assert InfoDict.decode(info.encode()) == info


def test_a_file_rewritten_in_place_after_the_scan_is_noticed(tmp_path: Path) -> None:
    make_tree(tmp_path / "t", {"a/x": PL, "b/y": 100})
    scan = scan_folder(tmp_path / "t")
    y = tmp_path / "t" / "b" / "y"
    y.write_bytes(os.urandom(100))  # same size: only its modification time tells
    os.utime(y, ns=(scan.mtimes_ns[1] + 10**9, scan.mtimes_ns[1] + 10**9))
    from minitorrent.folder import hash_folder

    with pytest.raises(StorageError, match=r"file changed while hashing: .*b/y"):
        hash_folder(scan.root, scan.files, PL, mtimes_ns=scan.mtimes_ns)


@pytest.mark.parametrize(
    ("change", "error"),
    [("grows", r"file changed while hashing: .*/e$"), ("goes", "cannot read a file of .*No such")],
)
def test_an_empty_file_that_changes_after_the_scan_is_noticed(
    tmp_path: Path, change: str, error: str
) -> None:
    make_tree(tmp_path / "t", {"a/x": PL, "e": 0})
    scan = scan_folder(tmp_path / "t")
    e = tmp_path / "t" / "e"
    if change == "grows":
        e.write_bytes(b"now some bytes")
    else:
        e.unlink()
    from minitorrent.folder import hash_folder

    with pytest.raises(StorageError, match=error):
        hash_folder(scan.root, scan.files, PL, mtimes_ns=scan.mtimes_ns)


def test_a_folder_of_only_empty_files_has_no_pieces(tmp_path: Path) -> None:
    make_tree(tmp_path / "t", {"x": 0, "y/z": 0})
    info, _ = build_folder_info(tmp_path / "t", "t", "g")
    assert info.length == 0 and info.pieces == b""


def test_devices_sockets_and_links_are_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path / "t", {"x": 1})
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "t" / "sock"))
    os.mkfifo(tmp_path / "t" / "fifo")
    os.symlink("/etc", tmp_path / "t" / "etc")
    scan = scan_folder(tmp_path / "t")
    server.close()
    assert [f.relative for f in scan.files] == ["x"]
    assert scan.skipped == 3


def test_a_folder_without_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t" / "sub").mkdir(parents=True)
    with pytest.raises(MetainfoError, match="has no files to share"):
        build_folder_info(tmp_path / "t", "t", "g")


def test_a_file_that_changes_size_while_hashed_is_noticed(tmp_path: Path) -> None:
    make_tree(tmp_path / "t", {"x": PL})
    scan = scan_folder(tmp_path / "t")
    (tmp_path / "t" / "x").write_bytes(b"short")
    from minitorrent.folder import hash_folder

    with pytest.raises(StorageError, match="changed while hashing"):
        hash_folder(scan.root, scan.files, PL)
