"""Info dictionaries (single-file or folder, private, BitTorrent v1), parallel piece
hashing, .torrent files and magnet links.

* :mod:`.info`: :class:`InfoDict`, valid by construction, and its canonical bencoding.
* :mod:`.hashing`: parallel piece hashing of a file or a folder's stream of files.
* :mod:`.build`: a file on disk to its info dictionary (piece length, safe open, hashing).
* :mod:`.export`: .torrent files and magnet links.

This package's names below are its public surface; callers import them from here.
"""

from minitorrent.metainfo.build import build_info, hash_file, piece_length_for
from minitorrent.metainfo.export import (
    magnet_link,
    magnet_of,
    private_announce_urls,
    private_torrent,
    torrent_bytes,
)
from minitorrent.metainfo.hashing import hash_pieces, hash_stream, read_stream_exact
from minitorrent.metainfo.info import MAX_PIECE_LENGTH, MIN_PIECE_LENGTH, InfoDict

__all__ = [
    "MAX_PIECE_LENGTH",
    "MIN_PIECE_LENGTH",
    "InfoDict",
    "build_info",
    "hash_file",
    "hash_pieces",
    "hash_stream",
    "magnet_link",
    "magnet_of",
    "piece_length_for",
    "private_announce_urls",
    "private_torrent",
    "read_stream_exact",
    "torrent_bytes",
]
