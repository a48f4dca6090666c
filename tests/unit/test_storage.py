"""Tests for minitorrent.peer.storage: PieceStorage and PieceHasher."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minitorrent.metainfo.hashing as mi_hashing
from minitorrent.errors import StorageError
from minitorrent.metainfo import InfoDict
from minitorrent.peer.piece_hasher import PieceHasher
from minitorrent.peer.storage import PieceStorage, locked_elsewhere

PL = 16 * 1024
BLOCK = 4096


def make_info(data: bytes, piece_length: int = PL) -> InfoDict:
    pieces = b"".join(
        hashlib.sha1(data[i : i + piece_length]).digest() for i in range(0, len(data), piece_length)
    )
    return InfoDict("f.bin", len(data), piece_length, pieces, "group")


@pytest.fixture
def data() -> bytes:
    return os.urandom(5 * PL + 1234)  # last piece short


@pytest.fixture
def info(data: bytes) -> InfoDict:
    return make_info(data)


def test_create_preallocates_new_file(tmp_path: Path, info: InfoDict) -> None:
    p = tmp_path / "new.bin"
    umask = os.umask(0)
    os.umask(umask)
    with PieceStorage.create(p, info) as s:
        assert s.writable
        assert s.path == str(p)
        assert os.fstat(s.fd).st_size == info.length
    st_ = p.stat()
    assert st_.st_size == info.length
    assert st_.st_mode & 0o777 == 0o644 & ~umask
    assert s.closed


def test_round_trip_write_read_verify_recheck(tmp_path: Path, data: bytes, info: InfoDict) -> None:
    p = tmp_path / "f.bin"
    with PieceStorage.create(p, info) as s:
        assert s.recheck() == [False] * info.num_pieces  # zero-filled
        for index in reversed(range(info.num_pieces)):
            off = s.piece_offset(index)
            piece = data[off : off + info.piece_size(index)]
            blocks = [memoryview(piece)[i : i + BLOCK] for i in range(0, len(piece), BLOCK)]
            s.write_blocks(off, blocks)
            assert s.verify_piece(index)
        assert s.read(0, info.length) == data
        assert s.read(PL - 3, 10) == data[PL - 3 : PL + 7]
        buf = bytearray(100)
        s.read_into(2 * PL - 50, [buf])
        assert bytes(buf) == data[2 * PL - 50 : 2 * PL + 50]
        seen: list[int] = []
        assert s.recheck(progress=seen.append) == [True] * info.num_pieces
        assert seen[-1] == info.length
        s.sync()
    assert p.read_bytes() == data


def test_pwritev_several_buffer_kinds(tmp_path: Path, data: bytes, info: InfoDict) -> None:
    with PieceStorage.create(tmp_path / "f.bin", info) as s:
        parts: list[bytes | bytearray | memoryview] = [
            data[:10],
            bytearray(data[10:5000]),
            memoryview(data)[5000:PL],
            b"",
        ]
        s.write_blocks(0, parts)
        a, b = bytearray(PL - 100), bytearray(100)
        s.read_into(0, [memoryview(a), b])
        assert bytes(a + b) == data[:PL]


def test_more_buffers_than_iov_max(tmp_path: Path) -> None:
    data = os.urandom(3000 * 7)  # 3000 tiny buffers > IOV_MAX (1024)
    info = make_info(data)
    with PieceStorage.create(tmp_path / "f.bin", info) as s:
        s.write_blocks(0, [data[i : i + 7] for i in range(0, len(data), 7)])
        out = [bytearray(7) for _ in range(3000)]
        s.read_into(0, out)
        assert b"".join(out) == data
        assert s.recheck() == [True] * info.num_pieces


def test_short_writes_and_reads_are_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, info: InfoDict
) -> None:
    real_pwritev, real_preadv = os.pwritev, os.preadv
    calls = {"w": 0, "r": 0}

    def short_pwritev(fd: int, bufs: list[memoryview], offset: int) -> int:
        calls["w"] += 1
        first = bytes(bufs[0])[:1000]
        return real_pwritev(fd, [first], offset)

    def short_preadv(fd: int, bufs: list[memoryview], offset: int) -> int:
        calls["r"] += 1
        return real_preadv(fd, [bufs[0][:999]], offset)

    with PieceStorage.create(tmp_path / "f.bin", info) as s:
        monkeypatch.setattr(os, "pwritev", short_pwritev)
        s.write_blocks(0, [data[:3000], data[3000:3500], data[3500:PL]])
        monkeypatch.setattr(os, "preadv", short_preadv)
        a, b = bytearray(2500), bytearray(PL - 2500)
        s.read_into(0, [a, b])
        monkeypatch.undo()
        assert bytes(a + b) == data[:PL]
        assert s.verify_piece(0)
    assert calls["w"] >= PL // 1000
    assert calls["r"] >= PL // 999


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(min_size=0, max_size=4 * PL + 100),
    order_seed=st.randoms(use_true_random=False),
)
def test_blocks_in_any_order_property(tmp_path: Path, data: bytes, order_seed: object) -> None:
    info = make_info(data)
    p = tmp_path / "prop.bin"
    p.unlink(missing_ok=True)
    blocks = [(i, data[i : i + BLOCK]) for i in range(0, len(data), BLOCK)]
    order_seed.shuffle(blocks)  # type: ignore[attr-defined]
    with PieceStorage.create(p, info) as s:
        for off, block in blocks:
            s.write_blocks(off, [block])
        assert all(s.verify_piece(i) for i in range(info.num_pieces))
        assert s.recheck() == [True] * info.num_pieces
        assert s.read(0, len(data)) == data


def test_recheck_finds_corrupt_pieces(tmp_path: Path, data: bytes, info: InfoDict) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    with open(p, "r+b") as f:
        f.seek(2 * PL + 17)
        f.write(b"\x00" if data[2 * PL + 17] else b"\x01")
    with PieceStorage.open_existing(p, info, writable=False) as s:
        expected = [True] * info.num_pieces
        expected[2] = False
        assert s.recheck() == expected
        assert s.recheck(workers=1) == expected
        assert not s.verify_piece(2)
        assert s.verify_piece(5)


def test_recheck_threaded_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, info: InfoDict
) -> None:
    monkeypatch.setattr(mi_hashing, "_CHUNK_TARGET", PL)
    p = tmp_path / "f.bin"
    bad = bytearray(data)
    bad[-1] ^= 0xFF
    p.write_bytes(bad)
    with PieceStorage.open_existing(p, info, writable=False) as s:
        assert s.recheck(workers=3) == [True] * (info.num_pieces - 1) + [False]


def test_empty_file(tmp_path: Path) -> None:
    info = make_info(b"")
    with PieceStorage.create(tmp_path / "empty", info) as s:
        assert s.recheck() == []
        assert s.read(0, 0) == b""
        s.write_blocks(0, [])
    with PieceStorage.open_existing(tmp_path / "empty", info, writable=False) as s:
        assert s.recheck() == []


def test_create_refuses_existing_file(tmp_path: Path, info: InfoDict) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"precious")
    with pytest.raises(StorageError, match="already exists"):
        PieceStorage.create(p, info)
    assert p.read_bytes() == b"precious"


def test_create_in_missing_directory(tmp_path: Path, info: InfoDict) -> None:
    with pytest.raises(StorageError, match="no such directory"):
        PieceStorage.create(tmp_path / "nope" / "f.bin", info)


def test_open_existing_checks(tmp_path: Path, data: bytes, info: InfoDict) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(data[:-1])
    with pytest.raises(StorageError, match="bytes but the shared file is"):
        PieceStorage.open_existing(p, info, writable=False)
    with pytest.raises(StorageError, match="no such file"):
        PieceStorage.open_existing(tmp_path / "missing", info, writable=True)
    with pytest.raises(StorageError, match="directory"):
        PieceStorage.open_existing(tmp_path, info, writable=False)
    with pytest.raises(StorageError, match="directory"):
        PieceStorage.open_existing(tmp_path, info, writable=True)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(StorageError, match="not a regular file"):
        PieceStorage.open_existing(fifo, info, writable=False)


def test_read_only_refuses_writes(tmp_path: Path, data: bytes, info: InfoDict) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    with (
        PieceStorage.open_existing(p, info, writable=False) as s,
        pytest.raises(StorageError, match="read-only"),
    ):
        s.write_blocks(0, [b"x"])
    assert p.read_bytes() == data


def test_out_of_range_is_a_bug(tmp_path: Path, info: InfoDict) -> None:
    with PieceStorage.create(tmp_path / "f.bin", info) as s:
        with pytest.raises(ValueError):
            s.write_blocks(info.length - 1, [b"ab"])
        with pytest.raises(ValueError):
            s.read(-1, 1)
        with pytest.raises(ValueError):
            s.read_into(info.length, [bytearray(1)])
        with pytest.raises(IndexError):
            s.piece_offset(info.num_pieces)
        with pytest.raises(IndexError):
            s.verify_piece(-1)
    assert os.path.getsize(tmp_path / "f.bin") == info.length


def test_file_shrank(tmp_path: Path, data: bytes, info: InfoDict) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    with PieceStorage.open_existing(p, info, writable=False) as s:
        os.truncate(p, PL)
        with pytest.raises(StorageError, match="shrank"):
            s.read_into(0, [bytearray(2 * PL)])
        with pytest.raises(StorageError, match="shrank"):
            s.read(PL, 10)
        with pytest.raises(StorageError, match="changed while hashing"):
            s.recheck()


def test_closed_storage(tmp_path: Path, info: InfoDict) -> None:
    s = PieceStorage.create(tmp_path / "f.bin", info)
    s.close()
    s.close()
    with pytest.raises(StorageError, match="closed"):
        s.read(0, 1)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (errno.ENOSPC, "disk full while writing"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EIO, "I/O error while writing"),
        (errno.EFBIG, "file too large"),
    ],
)
def test_write_errors_are_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, info: InfoDict, code: int, message: str
) -> None:
    def failing(*_args: object) -> int:
        raise OSError(code, os.strerror(code))

    with PieceStorage.create(tmp_path / "f.bin", info) as s:
        monkeypatch.setattr(os, "pwritev", failing)
        with pytest.raises(StorageError, match=message) as excinfo:
            s.write_blocks(0, [b"data"])
        assert str(tmp_path / "f.bin") in str(excinfo.value)


def test_too_little_free_space_refuses_and_removes_the_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, info: InfoDict
) -> None:
    real = os.statvfs(tmp_path)

    def almost_full(_fd: int) -> os.statvfs_result:
        fields = list(real)
        fields[4] = 0  # f_bavail: no block left for us
        return os.statvfs_result(fields)

    monkeypatch.setattr(os, "fstatvfs", almost_full)
    with pytest.raises(StorageError, match="not enough disk space"):
        PieceStorage.create(tmp_path / "f.bin", info)
    assert not (tmp_path / "f.bin").exists()


def test_a_new_file_claims_no_space_until_data_arrives(tmp_path: Path) -> None:
    big = InfoDict("big.bin", 1 << 30, 1 << 20, bytes(20 * 1024), "lab")
    with PieceStorage.create(tmp_path / "big.bin", big) as s:
        st = os.fstat(s.fd)
        assert st.st_size == big.length
        assert st.st_blocks * 512 < 1 << 20  # sparse: nothing held for data never sent
        s.write_blocks(5 << 20, [b"x" * 16384])
        assert os.fstat(s.fd).st_blocks * 512 < 2 << 20


def test_file_size_limit_in_subprocess(tmp_path: Path) -> None:
    """A real EFBIG from the kernel (RLIMIT_FSIZE, SIGXFSZ ignored) becomes a StorageError."""
    script = textwrap.dedent(
        """
        import os, resource, signal, sys
        from minitorrent.errors import StorageError
        from minitorrent.metainfo import InfoDict
        from minitorrent.peer.storage import PieceStorage

        d = sys.argv[1]
        PL = 16 * 1024
        info = InfoDict("f", 4 * PL, PL, bytes(80), "g")
        with open(os.path.join(d, "existing"), "wb") as f:
            f.truncate(4 * PL)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 * PL, 2 * PL))
        try:
            PieceStorage.create(os.path.join(d, "new"), info)
        except StorageError as e:
            print("create:", e)
        print("new exists:", os.path.exists(os.path.join(d, "new")))
        with PieceStorage.open_existing(os.path.join(d, "existing"), info, writable=True) as s:
            s.write_blocks(0, [b"a" * PL])  # below the limit: fine
            try:
                s.write_blocks(PL, [b"b" * PL, b"c" * PL])  # crosses it: short write, then EFBIG
            except StorageError as e:
                print("write:", e)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("create: ")
    assert "too large" in lines[0] or "disk" in lines[0]
    assert lines[1] == "new exists: False"
    expected = "write: file too large for this file system or limit while writing"
    assert lines[2] == f"{expected} {tmp_path / 'existing'}"
    assert (tmp_path / "existing").read_bytes()[: 2 * PL] == b"a" * PL + b"b" * PL


# -- PieceHasher --------------------------------------------------------------------------------


def test_lock_keeps_a_second_writer_out_until_closed(tmp_path: Path, info: InfoDict) -> None:
    p = tmp_path / "f.bin.part"
    assert not locked_elsewhere(p)  # no such file
    first = PieceStorage.create(p, info)
    assert not locked_elsewhere(p)
    first.lock()
    assert locked_elsewhere(p)
    with (
        PieceStorage.open_existing(p, info, writable=True) as second,
        pytest.raises(StorageError, match="being written by another process"),
    ):
        second.lock()
    first.close()
    assert not locked_elsewhere(p)
    with PieceStorage.open_existing(p, info, writable=True) as third:
        third.lock()


def test_piece_hasher(data: bytes, info: InfoDict) -> None:
    for index in range(info.num_pieces):
        h = PieceHasher.for_piece(info, index)
        off = index * PL
        piece = memoryview(data)[off : off + info.piece_size(index)]
        for i in range(0, len(piece), BLOCK):
            assert h.received == i
            h.update(piece[i : i + BLOCK])
        assert h.finalize()


def test_piece_hasher_rejects_bad_or_incomplete(data: bytes, info: InfoDict) -> None:
    h = PieceHasher.for_piece(info, 0)
    h.update(data[:BLOCK])
    assert not h.finalize()  # incomplete
    h = PieceHasher.for_piece(info, 0)
    h.update(b"\x00" * PL)
    assert not h.finalize()  # wrong data
    h = PieceHasher.for_piece(info, 0)
    h.update(data[:PL])
    with pytest.raises(ValueError):
        h.update(b"x")
