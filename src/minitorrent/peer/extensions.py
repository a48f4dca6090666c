"""BEP 10 extension protocol and BEP 9 metadata exchange (ut_metadata), sans-IO.

We always hold the metadata of the swarms we join, so we only ever *serve*
it: a client that opened a magnet link (libtorrent, aria2) asks for the info
dictionary in 16 KiB pieces. Anything we do not understand is ignored, as
BEP 10 asks, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastbencode import bdecode, bencode  # type: ignore[attr-defined]  # stub lacks re-exports

from minitorrent import __version__
from minitorrent.wire import messages as m

HANDSHAKE_ID = 0
UT_METADATA_ID = 3  # the id *we* assign to ut_metadata in our handshake
METADATA_PIECE = 16 * 1024
REQUEST, DATA, REJECT = 0, 1, 2
MAX_PAYLOAD = 64 * 1024  # an extension handshake larger than this is junk: ignore it


@dataclass
class ExtensionState:
    """What one peer told us in its extension handshake."""

    ids: dict[bytes, int] = field(default_factory=dict)  # extension name -> peer's id
    client: str = ""


def our_handshake(metadata_size: int, listen_port: int | None = None) -> m.Extended:
    payload: dict[bytes, object] = {
        b"m": {b"ut_metadata": UT_METADATA_ID},
        b"metadata_size": metadata_size,
        b"v": f"minitorrent {__version__}".encode(),
        b"reqq": 512,
    }
    if listen_port:
        payload[b"p"] = listen_port
    return m.Extended(HANDSHAKE_ID, bencode(payload))


def handle(msg: m.Extended, state: ExtensionState, metadata: bytes) -> list[m.Extended]:
    """Update ``state`` from one extended message; return the replies to send."""
    if len(msg.payload) > MAX_PAYLOAD:
        return []
    if msg.ext_id == HANDSHAKE_ID:
        _read_handshake(msg.payload, state)
        return []
    if msg.ext_id == UT_METADATA_ID:
        return _metadata_request(msg.payload, state, metadata)
    return []


def _read_handshake(payload: bytes, state: ExtensionState) -> None:
    try:
        decoded = bdecode(payload)
    except ValueError:
        return
    if not isinstance(decoded, dict):
        return
    names = decoded.get(b"m")
    if isinstance(names, dict):
        for name, ext_id in names.items():
            if not isinstance(name, bytes) or not isinstance(ext_id, int):
                continue
            if ext_id == 0:
                state.ids.pop(name, None)  # BEP 10: id 0 disables an extension
            elif 0 < ext_id < 256:
                state.ids[name] = ext_id
    client = decoded.get(b"v")
    if isinstance(client, bytes):
        state.client = client.decode("utf-8", "replace")[:64]


def _metadata_request(payload: bytes, state: ExtensionState, metadata: bytes) -> list[m.Extended]:
    peer_id = state.ids.get(b"ut_metadata")
    if peer_id is None:
        return []  # it never told us how to answer
    try:
        request = bdecode(payload)
    except ValueError:
        return []
    if not isinstance(request, dict) or request.get(b"msg_type") != REQUEST:
        return []
    piece = request.get(b"piece")
    pieces = (len(metadata) + METADATA_PIECE - 1) // METADATA_PIECE
    if not isinstance(piece, int) or not 0 <= piece < pieces:
        number = piece if isinstance(piece, int) else 0
        return [m.Extended(peer_id, bencode({b"msg_type": REJECT, b"piece": number}))]
    chunk = metadata[piece * METADATA_PIECE : (piece + 1) * METADATA_PIECE]
    header = bencode({b"msg_type": DATA, b"piece": piece, b"total_size": len(metadata)})
    return [m.Extended(peer_id, header + chunk)]
