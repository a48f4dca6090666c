"""Tests for minitorrent.metainfo: piece lengths, info dicts, hashing, .torrent and magnet."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from fastbencode import bdecode, bencode  # type: ignore[attr-defined]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minitorrent.metainfo.hashing as mi_hashing
import minitorrent.metainfo.info as mi_info
from minitorrent.errors import MetainfoError, StorageError
from minitorrent.metainfo import (
    InfoDict,
    build_info,
    hash_file,
    magnet_link,
    piece_length_for,
    torrent_bytes,
)
from minitorrent.names import safe_file_name

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
PL = 16 * KiB  # smallest legal piece length: keeps tests small
BOUNDARY_SIZES = [0, 1, PL - 1, PL, PL + 1, 2 * PL, 5 * PL - 1, 5 * PL, 5 * PL + 7]


def reference_pieces(data: bytes, piece_length: int) -> bytes:
    return b"".join(
        hashlib.sha1(data[i : i + piece_length]).digest() for i in range(0, len(data), piece_length)
    )


def make_info(
    data: bytes, piece_length: int = PL, source: str = "group1", name: str = "f.bin"
) -> InfoDict:
    return InfoDict(name, len(data), piece_length, reference_pieces(data, piece_length), source)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make hashing use two-piece chunks so that small files take the threaded path."""
    monkeypatch.setattr(mi_hashing, "_CHUNK_TARGET", 2 * PL)


def write(tmp_path: Path, data: bytes, name: str = "data.bin") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# -- piece_length_for ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, 64 * KiB),
        (1, 64 * KiB),
        (16 * MiB, 64 * KiB),
        (128 * MiB, 64 * KiB),
        (128 * MiB + 1, 128 * KiB),
        (256 * MiB, 128 * KiB),
        (256 * MiB + 1, 256 * KiB),
        (512 * MiB, 256 * KiB),
        (512 * MiB + 1, 512 * KiB),
        (GiB, 512 * KiB),
        (GiB + 1, 1 * MiB),
        (2 * GiB, 1 * MiB),
        (4 * GiB, 2 * MiB),
        (8 * GiB, 4 * MiB),
        (100 * GiB, 4 * MiB),
    ],
)
def test_piece_length_table(size: int, expected: int) -> None:
    assert piece_length_for(size) == expected


def test_piece_length_for_one_gib_is_reasonable() -> None:
    pieces = GiB // piece_length_for(GiB)
    assert 512 <= pieces <= 4096


@given(st.integers(min_value=0, max_value=1 << 45))
def test_piece_length_is_power_of_two_in_range(size: int) -> None:
    pl = piece_length_for(size)
    assert pl & (pl - 1) == 0
    assert 64 * KiB <= pl <= 4 * MiB
    if pl < 4 * MiB:
        assert -(-size // pl) <= 2048
    if pl > 64 * KiB:
        assert -(-size // pl) > 1024
    assert piece_length_for(size + 1) >= pl


# -- InfoDict geometry --------------------------------------------------------------------------


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_num_pieces_and_piece_size(size: int) -> None:
    info = make_info(b"x" * size)
    assert info.num_pieces == -(-size // PL)
    assert sum(info.piece_size(i) for i in range(info.num_pieces)) == size
    for i in range(info.num_pieces - 1):
        assert info.piece_size(i) == PL
    if size:
        assert info.piece_size(info.num_pieces - 1) == size - (info.num_pieces - 1) * PL
        assert info.piece_hash(0) == hashlib.sha1(b"x" * min(size, PL)).digest()
    with pytest.raises(IndexError):
        info.piece_size(info.num_pieces)
    with pytest.raises(IndexError):
        info.piece_hash(-1)


def test_zero_byte_file_has_no_pieces() -> None:
    info = make_info(b"")
    assert info.num_pieces == 0
    assert info.pieces == b""


# -- encode / decode ----------------------------------------------------------------------------


def test_encode_is_canonical_and_hash_matches() -> None:
    info = make_info(os.urandom(3 * PL + 5), name="ünï file.bin")
    raw = info.encode()
    d = bdecode(raw)
    assert d == {
        b"length": 3 * PL + 5,
        b"name": "ünï file.bin".encode(),
        b"piece length": PL,
        b"pieces": info.pieces,
        b"private": 1,
        b"source": b"group1",
    }
    assert bencode(d) == raw
    assert info.info_hash == hashlib.sha1(raw).digest()
    assert info.info_hash_hex == hashlib.sha1(raw).hexdigest()
    assert InfoDict.decode(raw) == info
    assert InfoDict.decode(raw).info_hash == info.info_hash


def test_non_private_round_trip() -> None:
    info = InfoDict("a", 1, PL, hashlib.sha1(b"a").digest(), "g", private=False)
    assert b"private" not in bdecode(info.encode())
    assert InfoDict.decode(info.encode()) == info


@settings(max_examples=50)
@given(
    name=st.text(
        alphabet=st.characters(
            codec="utf-8", exclude_categories=["Cc", "Cf", "Zl", "Zp"], exclude_characters="/\\"
        ),
        min_size=1,
        max_size=40,
    ).filter(lambda s: s not in (".", "..")),
    length=st.integers(min_value=0, max_value=1 << 40),
    pl_exp=st.integers(min_value=14, max_value=24),
    source=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20),
)
def test_round_trip_property(name: str, length: int, pl_exp: int, source: str) -> None:
    pl = 1 << pl_exp
    n = -(-length // pl)
    if n > 5000:
        length = 5000 * pl
        n = 5000
    info = InfoDict(name, length, pl, bytes(20 * n), source)
    again = InfoDict.decode(info.encode())
    assert again == info
    assert again.info_hash == hashlib.sha1(info.encode()).digest()


def test_same_content_same_hash_different_source_different_hash(tmp_path: Path) -> None:
    data = os.urandom(3 * PL)
    a = make_info(data, source="g1")
    b = make_info(data, source="g1")
    c = make_info(data, source="g2")
    assert a.info_hash == b.info_hash
    assert a.info_hash != c.info_hash
    p = write(tmp_path, data)
    i1 = build_info(p, "data.bin", "g1")
    i2 = build_info(p, "data.bin", "g1")
    i3 = build_info(p, "data.bin", "g2")
    assert i1.info_hash == i2.info_hash != i3.info_hash


def good_dict() -> dict[bytes, object]:
    return {
        b"length": PL + 1,
        b"name": b"file.bin",
        b"piece length": PL,
        b"pieces": bytes(40),
        b"private": 1,
        b"source": b"group",
    }


def variant(**changes: object) -> bytes:
    d = good_dict()
    for key, value in changes.items():
        k = key.replace("_", " ").encode()
        if value is DELETE:
            del d[k]
        else:
            d[k] = value
    return bytes(bencode(d))


DELETE = object()

BAD_INFOS: list[tuple[str, bytes]] = [
    ("not bencoding", b"this is not bencoding"),
    ("empty", b""),
    ("trailing junk", variant() + b"x"),
    ("truncated", variant()[:-1]),
    ("a list", bencode([b"name", b"x"])),
    ("an integer", b"i42e"),
    ("unsorted keys", b"d4:name1:a6:lengthi1ee"),
    ("multi-file", variant(files=[{b"length": 1, b"path": [b"a"]}])),
    ("extra key", variant(md5sum=b"0" * 32)),
    ("missing name", variant(name=DELETE)),
    ("missing length", variant(length=DELETE)),
    ("missing piece length", variant(piece_length=DELETE)),
    ("missing pieces", variant(pieces=DELETE)),
    ("missing source", variant(source=DELETE)),
    ("name is int", variant(name=5)),
    ("name is list", variant(name=[b"a"])),
    ("length is string", variant(length=b"17")),
    ("piece length is string", variant(piece_length=b"16384")),
    ("pieces is int", variant(pieces=0)),
    ("source is int", variant(source=1)),
    ("private is string", variant(private=b"1")),
    ("private is 0", variant(private=0)),
    ("private is 2", variant(private=2)),
    ("negative length", variant(length=-1, pieces=b"")),
    ("huge length", variant(length=1 << 70)),
    ("piece length 0", variant(piece_length=0)),
    ("piece length negative", variant(piece_length=-PL)),
    ("piece length not power of two", variant(piece_length=PL + 1)),
    ("piece length too small", variant(piece_length=8 * KiB, pieces=bytes(60))),
    ("piece length too large", variant(piece_length=32 * MiB, pieces=bytes(20))),
    ("pieces too short", variant(pieces=bytes(20))),
    ("pieces too long", variant(pieces=bytes(60))),
    ("pieces not multiple of 20", variant(pieces=bytes(41))),
    ("empty file with pieces", variant(length=0, pieces=bytes(20))),
    ("name not utf-8", variant(name=b"\xff\xfe.bin")),
    ("name empty", variant(name=b"")),
    ("name dot dot", variant(name=b"..")),
    ("name with slash", variant(name=b"a/b")),
    ("name with NUL", variant(name=b"a\x00b")),
    ("source not utf-8", variant(source=b"\xc3")),
    ("source empty", variant(source=b"")),
]


def test_good_variant_decodes() -> None:
    info = InfoDict.decode(variant())
    assert info.name == "file.bin"
    assert info.private is True


@pytest.mark.parametrize("raw", [raw for _, raw in BAD_INFOS], ids=[n for n, _ in BAD_INFOS])
def test_decode_rejects(raw: bytes) -> None:
    with pytest.raises(MetainfoError) as excinfo:
        InfoDict.decode(raw)
    assert str(excinfo.value)


def test_decode_rejects_non_canonical(monkeypatch: pytest.MonkeyPatch) -> None:
    # fastbencode already refuses non-canonical input; the re-encoding check is a second line
    # of defence, so exercise it with a lenient decoder.
    raw = variant()
    monkeypatch.setattr(mi_info, "bdecode", lambda _raw: bdecode(raw))
    with pytest.raises(MetainfoError, match="canonical"):
        InfoDict.decode(b"d6:lengthi016385e" + raw[len(b"d6:lengthi16385e") :])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "../x"},
        {"length": -1},
        {"length": True},
        {"piece_length": 3},
        {"pieces": bytes(20)},
        {"source": ""},
        {"private": 1},
    ],
)
def test_constructor_validates(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "name": "a",
        "length": PL + 1,
        "piece_length": PL,
        "pieces": bytes(40),
        "source": "g",
    }
    args.update(kwargs)
    with pytest.raises(MetainfoError):
        InfoDict(**args)  # type: ignore[arg-type]


# -- safe_file_name -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["my file.txt", "ünï.bin", "-leading-dash", "a" * 255, "é" * 127, "日本語.txt"]
)
def test_safe_file_name_accepts(name: str) -> None:
    assert safe_file_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "a/b",
        "/etc/passwd",
        "..\\x",
        "a\\b",
        "a\x00b",
        "line\nbreak",
        "tab\there",
        "del\x7f",
        "c1\x85",
        "a" * 256,
        "é" * 128,
        "bad\udcffsurrogate",
    ],
)
def test_safe_file_name_rejects(name: str) -> None:
    with pytest.raises(MetainfoError):
        safe_file_name(name)


# Characters that change what a name looks like: bidi controls, line and paragraph
# separators, zero-width and other format characters, C1 controls.
HIDDEN = ["\u202e", "\u202d", "\u2066", "\u061c", "\u2028", "\u2029", "\u200b", "\ufeff", "\x85"]


@pytest.mark.parametrize("hidden", HIDDEN)
def test_names_that_lie_on_screen_are_refused_when_decoded(hidden: str) -> None:
    """report<U+202E>fdp.exe shows as reportexe.pdf. The client decodes every info dict
    the tracker sends (download_file, export_torrent, magnet) through InfoDict.decode."""
    name = f"report{hidden}fdp.exe"
    raw = bencode(
        {
            b"length": 1,
            b"name": name.encode(),
            b"piece length": PL,
            b"pieces": bytes(20),
            b"private": 1,
            b"source": b"g",
        }
    )
    code = re.escape(f"U+{ord(hidden):04X}")
    with pytest.raises(MetainfoError, match=code) as refused:
        InfoDict.decode(raw)
    assert hidden not in refused.value.message  # the error line shows it escaped
    with pytest.raises(MetainfoError, match=code):
        safe_file_name(name)


# -- hashing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("threaded", [False, True])
def test_hash_file_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, workers: int, threaded: bool
) -> None:
    if threaded:
        monkeypatch.setattr(mi_hashing, "_CHUNK_TARGET", PL)
    data = os.urandom(size)
    p = write(tmp_path, data)
    assert hash_file(p, PL, workers=workers) == reference_pieces(data, PL)


def test_hash_empty_file(tmp_path: Path) -> None:
    p = write(tmp_path, b"")
    assert hash_file(p, PL) == b""


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=6 * PL),
    chunk_pieces=st.integers(min_value=1, max_value=4),
    workers=st.integers(min_value=1, max_value=4),
)
def test_hash_file_property(tmp_path: Path, data: bytes, chunk_pieces: int, workers: int) -> None:
    p = write(tmp_path, data, "prop.bin")
    old = mi_hashing._CHUNK_TARGET
    mi_hashing._CHUNK_TARGET = chunk_pieces * PL
    try:
        pieces = hash_file(p, PL, workers=workers)
    finally:
        mi_hashing._CHUNK_TARGET = old
    assert pieces == reference_pieces(data, PL)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("workers", [1, 2])
def test_progress_is_monotonic_and_complete(tmp_path: Path, workers: int) -> None:
    data = os.urandom(9 * PL + 3)
    p = write(tmp_path, data)
    seen: list[int] = []
    caller = threading.get_ident()

    def progress(done: int) -> None:
        assert threading.get_ident() == caller
        seen.append(done)

    hash_file(p, PL, workers=workers, progress=progress)
    assert seen
    assert seen == sorted(seen)
    assert seen[-1] == len(data)
    assert all(0 <= s <= len(data) for s in seen)


def test_file_shrinks_while_hashing_inline(tmp_path: Path, small_chunks: None) -> None:
    p = write(tmp_path, os.urandom(8 * PL))

    def progress(done: int) -> None:
        if done < 8 * PL:
            os.truncate(p, 3 * PL)

    with pytest.raises(StorageError, match="file changed while hashing"):
        hash_file(p, PL, workers=1, progress=progress)


def test_file_grows_while_hashing_inline(tmp_path: Path, small_chunks: None) -> None:
    p = write(tmp_path, os.urandom(8 * PL))

    def progress(done: int) -> None:
        with open(p, "ab") as f:
            f.write(b"more")

    with pytest.raises(StorageError, match="file changed while hashing"):
        hash_file(p, PL, workers=1, progress=progress)


def test_file_shrinks_while_hashing_threaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None
) -> None:
    p = write(tmp_path, os.urandom(16 * PL))
    real = mi_hashing._hash_chunk_pieces

    def shrinking(*args: object) -> None:
        os.truncate(p, PL)
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(mi_hashing, "_hash_chunk_pieces", shrinking)
    with pytest.raises(StorageError, match="file changed while hashing"):
        hash_file(p, PL, workers=2)


def test_hash_file_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no such file"):
        hash_file(tmp_path / "missing", PL)
    with pytest.raises(StorageError, match="directory"):
        hash_file(tmp_path, PL)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(StorageError, match="not a regular file"):
        hash_file(fifo, PL)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_hash_file_unreadable(tmp_path: Path) -> None:
    p = write(tmp_path, b"secret")
    p.chmod(0)
    with pytest.raises(StorageError, match="permission denied"):
        hash_file(p, PL)


def test_build_info(tmp_path: Path) -> None:
    data = os.urandom(3 * 64 * KiB + 100)
    p = write(tmp_path, data)
    info = build_info(p, "my data.bin", "group-7")
    assert info == InfoDict(
        "my data.bin", len(data), 64 * KiB, reference_pieces(data, 64 * KiB), "group-7"
    )
    assert info.private


def test_build_info_errors(tmp_path: Path) -> None:
    p = write(tmp_path, b"abc")
    with pytest.raises(StorageError, match="no such file"):
        build_info(tmp_path / "nope", "nope", "g")
    with pytest.raises(StorageError, match="directory"):
        build_info(tmp_path, "dir", "g")
    with pytest.raises(MetainfoError):
        build_info(p, "../evil", "g")
    with pytest.raises(MetainfoError):
        build_info(p, "ok", "")


# -- .torrent and magnet ------------------------------------------------------------------------


def test_torrent_bytes() -> None:
    info = make_info(os.urandom(2 * PL + 1), name="a file.bin")
    raw = torrent_bytes(
        info,
        "http://t1/announce/KEY",
        [["http://t1/announce/KEY"], [], ["http://t2/a", "http://t3/a"]],
    )
    d = bdecode(raw)
    assert d[b"announce"] == b"http://t1/announce/KEY"
    assert d[b"announce-list"] == [[b"http://t1/announce/KEY"], [b"http://t2/a", b"http://t3/a"]]
    assert d[b"created by"] == b"minitorrent"
    assert b"creation date" not in d
    assert bencode(d[b"info"]) == info.encode()
    assert info.encode() in raw
    assert hashlib.sha1(bencode(d[b"info"])).digest() == info.info_hash
    assert bencode(d) == raw  # canonical as a whole
    plain = bdecode(torrent_bytes(info, "http://t/a"))
    assert b"announce-list" not in plain
    assert torrent_bytes(info, "http://t/a") == torrent_bytes(info, "http://t/a")


def test_magnet_link() -> None:
    info = make_info(b"hello", name="my file & more?.txt")
    link = magnet_link(info, ["http://t1:8000/announce?passkey=a&b", "udp://t2:1/x"])
    assert link.startswith(f"magnet:?xt=urn:btih:{info.info_hash_hex}&dn=")
    query = link[len("magnet:?") :]
    assert " " not in query
    pairs = parse_qsl(query)
    assert pairs == [
        ("xt", f"urn:btih:{info.info_hash_hex}"),
        ("dn", "my file & more?.txt"),
        ("xl", "5"),
        ("tr", "http://t1:8000/announce?passkey=a&b"),
        ("tr", "udp://t2:1/x"),
    ]
    assert len(info.info_hash_hex) == 40
