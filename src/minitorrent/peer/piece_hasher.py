"""Checking a piece while its blocks arrive, without keeping them."""

from __future__ import annotations

import hashlib

from minitorrent.metainfo import InfoDict

Buffer = bytes | bytearray | memoryview


class PieceHasher:
    """Incremental check of one piece whose blocks arrive in order (zero-copy download path).

    ``update`` each block as it arrives (a memoryview into the receive buffer is fine), then
    ``finalize()`` tells whether the piece is complete and matches its hash.
    """

    __slots__ = ("_expected", "_received", "_sha1", "size")

    def __init__(self, expected: bytes, size: int) -> None:
        if len(expected) != 20:
            raise ValueError("expected must be a 20-byte SHA1")
        self._expected = expected
        self.size = size
        self._received = 0
        self._sha1 = hashlib.sha1()

    @classmethod
    def for_piece(cls, info: InfoDict, index: int) -> PieceHasher:
        return cls(info.piece_hash(index), info.piece_size(index))

    @property
    def received(self) -> int:
        """Bytes fed so far, i.e. the offset of the next block expected."""
        return self._received

    def update(self, data: Buffer) -> None:
        received = self._received + (data.nbytes if type(data) is memoryview else len(data))
        if received > self.size:
            raise ValueError(f"piece overflow: {received} > {self.size} bytes")
        self._sha1.update(data)
        self._received = received

    def finalize(self) -> bool:
        """True if exactly ``size`` bytes were fed and their SHA1 matches."""
        return self._received == self.size and self._sha1.digest() == self._expected
