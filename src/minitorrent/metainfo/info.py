"""The info dictionary of one shared file or folder (BitTorrent v1), valid by construction.

An :class:`InfoDict`'s fields are checked when it is created, and :meth:`InfoDict.decode`
additionally insists that the raw bytes are the canonical bencoding, so
``info.info_hash == sha1(raw)`` for every dictionary we accept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fastbencode import bdecode, bencode  # type: ignore[attr-defined]  # not re-exported in its stub

from minitorrent.errors import MetainfoError
from minitorrent.file_list import FileEntry, check_files
from minitorrent.names import safe_file_name

KiB = 1 << 10
MiB = 1 << 20

#: Limits accepted when decoding (BEP 52's minimum; a piece must fit in memory comfortably).
MIN_PIECE_LENGTH = 16 * KiB
MAX_PIECE_LENGTH = 16 * MiB
#: Largest file size we represent (off_t on 64-bit systems).
MAX_LENGTH = (1 << 63) - 1
SHA1_LEN = 20

_INFO_KEYS = frozenset(
    {b"files", b"length", b"name", b"piece length", b"pieces", b"private", b"source"}
)
_FILE_KEYS = frozenset({b"length", b"path"})


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def count_pieces(length: int, piece_length: int) -> int:
    return -(-length // piece_length)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class InfoDict:
    """The info dictionary of one shared file or folder (BitTorrent v1).

    ``source`` is the group id: the same file shared in two groups has two info-hashes.
    A folder lists its files in ``files`` (empty for a single file); its ``length`` is
    their total, the length of the stream of all its files back to back that the pieces
    cut up.  ``name`` is then the folder's name.
    """

    name: str
    length: int
    piece_length: int
    pieces: bytes
    source: str
    private: bool = True
    files: tuple[FileEntry, ...] = ()

    def __post_init__(self) -> None:
        safe_file_name(self.name)
        if self.files or not isinstance(self.files, tuple):
            check_files(self.name, self.files)
            if self.length != sum(f.length for f in self.files):
                raise MetainfoError("the length of a folder must be the sum of its files")
        if not _is_int(self.length):
            raise MetainfoError(f"invalid file length {self.length!r}")
        if self.length < 0:
            raise MetainfoError("the file length is negative")
        if self.length > MAX_LENGTH:
            raise MetainfoError(f"the file length {self.length} is too large")
        pl = self.piece_length
        if not _is_int(pl) or not _is_power_of_two(pl):
            raise MetainfoError(f"the piece length {pl!r} is not a power of two")
        if not MIN_PIECE_LENGTH <= pl <= MAX_PIECE_LENGTH:
            raise MetainfoError(
                f"the piece length {pl} is out of range "
                f"({MIN_PIECE_LENGTH} to {MAX_PIECE_LENGTH} bytes)"
            )
        if not isinstance(self.pieces, bytes):
            raise MetainfoError("the piece hashes must be bytes")
        expected = SHA1_LEN * count_pieces(self.length, pl)
        if len(self.pieces) != expected:
            raise MetainfoError(
                f"the piece hashes are {len(self.pieces)} bytes; a {self.length}-byte file "
                f"in {pl}-byte pieces needs {expected}"
            )
        if not isinstance(self.source, str) or not self.source:
            raise MetainfoError("the source (group id) is missing")
        try:
            self.source.encode("utf-8")
        except UnicodeEncodeError:
            raise MetainfoError("the source (group id) is not valid Unicode") from None
        if not isinstance(self.private, bool):
            raise MetainfoError("private must be a boolean")

    # -- bencoding -------------------------------------------------------------------------

    @cached_property
    def _encoded(self) -> bytes:
        d: dict[bytes, Any] = {
            b"name": self.name.encode("utf-8"),
            b"piece length": self.piece_length,
            b"pieces": self.pieces,
            b"source": self.source.encode("utf-8"),
        }
        if self.files:
            d[b"files"] = [
                {b"length": f.length, b"path": [e.encode("utf-8") for e in f.path]}
                for f in self.files
            ]
        else:
            d[b"length"] = self.length
        if self.private:
            d[b"private"] = 1
        encoded: bytes = bencode(d)
        return encoded

    def encode(self) -> bytes:
        """The canonical bencoding (sorted keys); its SHA1 is the info-hash."""
        return self._encoded

    @cached_property
    def info_hash(self) -> bytes:
        """SHA1 of :meth:`encode` (20 bytes)."""
        return hashlib.sha1(self._encoded).digest()

    @property
    def info_hash_hex(self) -> str:
        return self.info_hash.hex()

    @property
    def is_folder(self) -> bool:
        return bool(self.files)

    @classmethod
    def decode(cls, raw: bytes) -> InfoDict:
        """Parse and strictly validate a bencoded info dictionary.

        Raises :class:`MetainfoError` unless ``raw`` is the canonical bencoding of a valid
        single-file or folder info dictionary (so that ``sha1(raw)`` is the info-hash we
        compute); every path of a folder is checked (:func:`minitorrent.file_list.check_files`).
        """
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise MetainfoError("the info dictionary must be bytes")
        raw = bytes(raw)
        try:
            d = bdecode(raw)
        except (ValueError, TypeError, OverflowError, RecursionError):
            raise MetainfoError("the info dictionary is not valid bencoding") from None
        if not isinstance(d, dict):
            raise MetainfoError("the info dictionary is not a dictionary")
        unknown = sorted(k for k in d if k not in _INFO_KEYS)
        if unknown:
            names = ", ".join(repr(k.decode("utf-8", "replace")) for k in unknown)
            raise MetainfoError(f"the info dictionary has unexpected keys: {names}")

        def get(key: bytes, kind: str) -> Any:
            if key not in d:
                raise MetainfoError(f"the info dictionary has no {key.decode()!r}")
            value = d[key]
            ok = isinstance(value, bytes) if kind == "a string" else _is_int(value)
            if not ok:
                raise MetainfoError(f"{key.decode()!r} in the info dictionary must be {kind}")
            return value

        name_b: bytes = get(b"name", "a string")
        files: tuple[FileEntry, ...] = ()
        if b"files" in d:
            if b"length" in d:
                raise MetainfoError("the info dictionary has both 'length' and 'files'")
            files = _decode_files(d[b"files"])
            length = sum(f.length for f in files)
        else:
            length = get(b"length", "an integer")
        piece_length: int = get(b"piece length", "an integer")
        pieces: bytes = get(b"pieces", "a string")
        source_b: bytes = get(b"source", "a string")
        private = False
        if b"private" in d:
            flag = get(b"private", "an integer")
            if flag != 1:
                raise MetainfoError("'private' in the info dictionary must be 1 when present")
            private = True
        try:
            name = name_b.decode("utf-8")
        except UnicodeDecodeError:
            raise MetainfoError("the file name is not valid UTF-8") from None
        try:
            source = source_b.decode("utf-8")
        except UnicodeDecodeError:
            raise MetainfoError("the source (group id) is not valid UTF-8") from None
        info = cls(name, length, piece_length, pieces, source, private, files)
        if info.encode() != raw:
            raise MetainfoError("the info dictionary is not in canonical bencoding")
        return info

    # -- pieces ----------------------------------------------------------------------------

    @property
    def num_pieces(self) -> int:
        return len(self.pieces) // SHA1_LEN

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.num_pieces:
            raise IndexError(f"piece index {index} out of range (0..{self.num_pieces - 1})")

    def piece_size(self, index: int) -> int:
        """Size of piece ``index``; the last piece may be shorter."""
        self._check_index(index)
        if index == self.num_pieces - 1:
            return self.length - index * self.piece_length
        return self.piece_length

    def piece_hash(self, index: int) -> bytes:
        self._check_index(index)
        return self.pieces[index * SHA1_LEN : (index + 1) * SHA1_LEN]


def _decode_files(value: object) -> tuple[FileEntry, ...]:
    """The ``files`` list of a folder's info dictionary, each entry's shape checked (the
    paths themselves are checked by :func:`check_files`)."""
    if not isinstance(value, list) or not value:
        raise MetainfoError("'files' in the info dictionary must be a non-empty list")
    entries = []
    for item in value:
        if not isinstance(item, dict) or set(item) != _FILE_KEYS:
            raise MetainfoError("each file of a folder must have exactly 'length' and 'path'")
        length, path = item[b"length"], item[b"path"]
        if not _is_int(length):
            raise MetainfoError("the length of a file of the folder must be an integer")
        if not isinstance(path, list) or not all(isinstance(e, bytes) for e in path):
            raise MetainfoError("the path of a file of the folder must be a list of strings")
        try:
            elements = tuple(e.decode("utf-8") for e in path)
        except UnicodeDecodeError:
            raise MetainfoError("a path in the folder is not valid UTF-8") from None
        entries.append(FileEntry(elements, length))
    return tuple(entries)
