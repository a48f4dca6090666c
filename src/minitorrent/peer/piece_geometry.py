"""How a torrent's bytes cut into pieces and a piece into request blocks.

Pure arithmetic, shared by the piece picker and its bookkeeping: ``ValueError``
means the arguments break the torrent's geometry (typically a peer sent a bad
index or offset: drop it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

__all__ = ["DEFAULT_BLOCK_SIZE", "Block", "BlockState", "PieceGeometry"]

DEFAULT_BLOCK_SIZE = 16384


class Block(NamedTuple):
    """One request unit: ``length`` bytes at ``begin`` inside piece ``index``."""

    index: int  # type: ignore[assignment]  # shadows tuple.index; the wire name wins
    begin: int
    length: int


class BlockState(IntEnum):
    FREE = 0
    REQUESTED = 1
    RECEIVED = 2
    VERIFIED = 3


@dataclass(eq=False)
class PieceGeometry:
    """Piece and block sizes of one torrent, checked once at construction."""

    num_pieces: int
    piece_length: int
    total_length: int
    block_size: int = DEFAULT_BLOCK_SIZE
    _blocks_per_piece: int = field(init=False, repr=False)
    _last_piece_size: int = field(init=False, repr=False)
    _last_piece_blocks: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        num_pieces, piece_length, block_size = self.num_pieces, self.piece_length, self.block_size
        total_length = self.total_length
        if piece_length <= 0 or block_size <= 0:
            raise ValueError("piece_length and block_size must be positive")
        if total_length < 0:
            raise ValueError("total_length must not be negative")
        expected = -(-total_length // piece_length)
        if num_pieces != expected:
            raise ValueError(
                f"{total_length} bytes in pieces of {piece_length} make {expected} pieces, "
                f"not {num_pieces}"
            )
        self._blocks_per_piece = -(-piece_length // block_size)
        self._last_piece_size = total_length - (num_pieces - 1) * piece_length if num_pieces else 0
        self._last_piece_blocks = -(-self._last_piece_size // block_size)

    def piece_size(self, index: int) -> int:
        self._check_index(index)
        return self._last_piece_size if index == self.num_pieces - 1 else self.piece_length

    def blocks_in_piece(self, index: int) -> int:
        self._check_index(index)
        return self._last_piece_blocks if index == self.num_pieces - 1 else self._blocks_per_piece

    def block(self, index: int, n: int) -> Block:
        """The ``n``-th block of piece ``index``."""
        if not 0 <= n < self.blocks_in_piece(index):
            raise ValueError(f"piece {index} has no block {n}")
        return self._block(index, n)

    def blocks_of(self, index: int) -> list[Block]:
        return [self._block(index, n) for n in range(self.blocks_in_piece(index))]

    def _block(self, index: int, n: int) -> Block:
        """:meth:`block` without the checks, for indices known to be valid."""
        begin = n * self.block_size
        size = self._last_piece_size if index == self.num_pieces - 1 else self.piece_length
        return Block(index, begin, min(self.block_size, size - begin))

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.num_pieces:
            raise ValueError(f"piece index {index} out of range (0..{self.num_pieces - 1})")

    def _locate(self, block: Block) -> tuple[int, int]:
        """(piece index, block number) of a well-formed block, else ValueError."""
        index, begin, length = block
        self._check_index(index)
        bs = self.block_size
        if begin < 0 or begin % bs:
            raise ValueError(f"block offset {begin} is not a multiple of {bs}")
        size = self._last_piece_size if index == self.num_pieces - 1 else self.piece_length
        if begin >= size or length != min(bs, size - begin):
            raise ValueError(f"{block} does not match the piece geometry")
        n = begin // bs
        return index, n
