"""Helpers of the file-sharing end-to-end tests: test files, parsed command output,
and a BitTorrent peer run by the test itself (honest, partial or lying)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import random
import re
import secrets
import signal
import socket
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from minitorrent import wire
from minitorrent.driver import Client, Process, wait_until
from minitorrent.errors import ProtocolError
from minitorrent.metainfo import InfoDict, build_info

KiB = 1024
MiB = 1024 * KiB


def tracker_port(tracker_info: Path) -> int:
    """The port of the first tracker of a tracker_info.txt (IP and port on two lines)."""
    return int(tracker_info.read_text().split()[1])


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def write_random(path: Path, size: int, seed: int = 0) -> bytes:
    """Write `size` random bytes to `path` (parents created); return them."""
    data = random_bytes(size, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def quote(text: str | Path) -> str:
    """One shell word for the client's command line."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- parsed command output -------------------------------------------------------------


@dataclass(frozen=True)
class FileRow:
    name: str
    size: str
    info_hash: str  # its first 12 hex digits; all 40 with --long
    peers: int


_FILE_ROW = re.compile(
    r"^(?P<name>.+?)\s+(?P<size>\d+(?:\.\d)? (?:B|KiB|MiB|GiB|TiB))\s+"
    r"(?P<info_hash>[0-9a-f]{40}|[0-9a-f]{12})\s+(?P<peers>\d+)$"
)


def list_files(client: Client, group: str, *, long: bool = False) -> dict[str, FileRow]:
    """`list_files <group>` (or with `--long`) as {name: row}."""
    rows = {}
    for line in client.ok(f"list_files {group}" + (" --long" if long else "")):
        match = _FILE_ROW.match(line)
        if match:
            row = FileRow(match["name"], match["size"], match["info_hash"], int(match["peers"]))
            rows[row.name] = row
    return rows


@dataclass(frozen=True)
class PeerLine:
    group: str
    name: str
    peer_id: str
    down: int
    up: int
    mark: str  # "", "disconnected" or "banned"
    whose: str = "?"  # user@ip:port as the tracker listed it, "?" if it did not


_PEER_LINE = re.compile(
    r"^\[(?P<group>[^\]]+)\] (?P<name>.+) (?P<peer_id>[0-9a-f]{40}) (?P<whose>\S+) "
    r"down=(?P<down>\d+) up=(?P<up>\d+)(?: (?P<mark>disconnected|banned))?$"
)


def peers(client: Client, name: str | None = None) -> dict[str, PeerLine]:
    """The `peers` counters as {peer id hex: line}, for one file name if given."""
    out = {}
    for line in client.ok("peers"):
        match = _PEER_LINE.match(line)
        if match and (name is None or match["name"] == name):
            out[match["peer_id"]] = PeerLine(
                match["group"],
                match["name"],
                match["peer_id"],
                int(match["down"]),
                int(match["up"]),
                match["mark"] or "",
                match["whose"],
            )
    return out


def own_peer_id(client: Client) -> str:
    """The client's peer id (hex), from the first line of `peers`."""
    [line] = [line for line in client.ok("peers") if line.startswith("this client: ")]
    return line.split()[2]


def uploaded_bytes(client: Client, name: str) -> float:
    """The `uploaded` column of `list_shares` for a file, in bytes (approximately)."""
    units = {"B": 1, "KiB": KiB, "MiB": MiB, "GiB": 1024 * MiB, "TiB": 1024**4}
    for line in client.ok("list_shares"):
        match = re.search(rf"\s{re.escape(name)}\s+(\d+(?:\.\d)?) (B|KiB|MiB|GiB|TiB)\s", line)
        if match:
            return float(match[1]) * units[match[2]]
    raise AssertionError(f"{name} not in list_shares")


def download_line(client: Client, group: str, name: str) -> str:
    """The `show_downloads` line of one download."""
    lines = [
        line
        for line in client.ok("show_downloads")
        if re.match(rf"^\[[DCF]\] \[{re.escape(group)}\] {re.escape(name)}(?::| |$)", line)
    ]
    assert len(lines) == 1, f"{group}/{name}: {lines}"
    return lines[0]


@contextmanager
def frozen(*processes: Process) -> Iterator[None]:
    """SIGSTOP processes for the duration of the block (SIGCONT after). A frozen peer
    keeps its sockets: connections to it are accepted by the kernel, never answered."""
    for process in processes:
        process.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            process.signal(signal.SIGCONT)


def announce_times(tracker_db: Path, user_id: str) -> set[str]:
    """The `last_seen` of a user's live peers in the tracker's database (one announce)."""
    with closing(sqlite3.connect(f"file:{tracker_db}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT last_seen FROM peers WHERE user_id = ?", (user_id,)).fetchall()
    return {str(row[0]) for row in rows}


# -- a peer run by the test ------------------------------------------------------------


class TrackerUser:
    """A user driven straight through the tracker's JSON API (httpx)."""

    def __init__(self, tracker_port: int, user_id: str, password: str) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{tracker_port}/api/v1", timeout=10)
        self.user_id = user_id
        self.http.post("/users", json={"user_id": user_id, "password": password})
        response = self.http.post("/sessions", json={"user_id": user_id, "password": password})
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['token']}"

    def request_to_join(self, group: str) -> None:
        self.http.post(f"/groups/{group}/requests").raise_for_status()

    def register(self, path: Path, group: str) -> InfoDict:
        """Share a file's metadata in the group (as upload_file does)."""
        info = build_info(path, path.name, group)
        body = {"info": base64.b64encode(info.encode()).decode()}
        self.http.post(f"/groups/{group}/files", json=body).raise_for_status()
        return info

    def file_info(self, group: str, name: str) -> InfoDict:
        response = self.http.get(f"/groups/{group}/files/{name}")
        response.raise_for_status()
        return InfoDict.decode(base64.b64decode(response.json()["info"]))

    def announce(self, info: InfoDict, peer_id: bytes, port: int, event: str) -> None:
        body = {
            "info_hash": info.info_hash_hex,
            "peer_id": peer_id.hex(),
            "ip": "127.0.0.1",
            "port": port,
            "left": 0,
            "event": event,
            "interval": 300,  # outlives the test: no re-announce needed
        }
        self.http.post("/announce", json=body).raise_for_status()

    def close(self) -> None:
        self.http.close()


def member(tracker_info: Path, admin: Client, user_id: str) -> TrackerUser:
    """A user driven through the tracker's JSON API, accepted into 'lab' by `admin`."""
    user = TrackerUser(tracker_port(tracker_info), user_id, f"{user_id}-password")
    user.request_to_join("lab")
    admin.ok(f"accept_request lab {user_id}")
    return user


BlockSource = Callable[[int, int, int], bytes]


class FakePeer:
    """A seed-like BitTorrent peer on loopback, speaking the wire protocol with
    minitorrent.wire: handshake, a bitfield, unchoke, then answers every request with
    ``blocks(index, begin, length)``. ``pieces_for(peer_id)`` picks the pieces it
    claims to each peer (default: all). Announced to the tracker as a seed of `info`.

    ``cut="stall"`` or ``"close"``: it sends only the first half of its first piece
    message on each connection, then answers nothing more (the connection stays open)
    or closes the connection.

    ``choke_after(index, begin)``: seconds to choke the peer for after serving that
    block (0: keep serving); requests meanwhile are ignored.
    """

    def __init__(
        self,
        user: TrackerUser,
        info: InfoDict,
        blocks: BlockSource,
        *,
        pieces_for: Callable[[bytes], set[int]] | None = None,
        cut: Literal["stall", "close"] | None = None,
        choke_after: Callable[[int, int], float] = lambda index, begin: 0.0,
    ) -> None:
        self.user = user
        self.cut = cut
        self.choke_after = choke_after
        self.cut_short: Counter[bytes] = Counter()  # piece messages cut in half, per peer
        self.info = info
        self.blocks = blocks
        self.pieces_for = pieces_for or (lambda peer_id: set(range(info.num_pieces)))
        self.peer_id = b"-FAKE01-" + secrets.token_bytes(12)
        self.connections: Counter[bytes] = Counter()  # handshakes per remote peer id
        self.closed: Counter[bytes] = Counter()  # connections ended, per remote peer id
        self.served: Counter[bytes] = Counter()  # block bytes sent, per remote peer id
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the fake peer did not start"
        user.announce(info, self.peer_id, self.port, "started")

    def stats(self, peer_id: bytes) -> tuple[int, int, int]:
        """(connections, closed connections, bytes served) of one remote peer."""
        with self._lock:
            return self.connections[peer_id], self.closed[peer_id], self.served[peer_id]

    def remote_ids(self) -> set[bytes]:
        with self._lock:
            return set(self.connections)

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self.user.close()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = self.info
        proto = wire.PeerProtocol()
        proto.set_torrent(info.num_pieces, info.piece_length, info.length)
        remote = b""
        stalled = False  # cut="stall" and done: read on, answer nothing
        choked = False  # by choke_after, until a timer unchokes the peer again

        def unchoke() -> None:
            nonlocal choked
            choked = False
            if not writer.is_closing():
                writer.write(proto.send(wire.Unchoke()))

        try:
            while data := await reader.read(256 * KiB):
                for event in proto.receive_data(data):
                    if isinstance(event, wire.Handshake):
                        remote = event.peer_id
                        with self._lock:
                            self.connections[remote] += 1
                        pieces = self.pieces_for(remote)
                        writer.write(proto.send(wire.Handshake(info.info_hash, self.peer_id)))
                        bits = wire.bitfield_from_pieces(pieces, info.num_pieces)
                        writer.write(proto.send(wire.Bitfield(bits)))
                        writer.write(proto.send(wire.Unchoke()))
                    elif isinstance(event, wire.Request) and not stalled and not choked:
                        block = self.blocks(event.index, event.begin, event.length)
                        message = proto.send(wire.Piece(event.index, event.begin, block))
                        if self.cut is not None:
                            writer.write(message[: len(message) // 2])
                            with self._lock:
                                self.cut_short[remote] += 1
                            if self.cut == "close":
                                await writer.drain()
                                return
                            stalled = True
                            continue
                        writer.write(message)
                        with self._lock:
                            self.served[remote] += len(block)
                        pause = self.choke_after(event.index, event.begin)
                        if pause > 0:
                            choked = True
                            writer.write(proto.send(wire.Choke()))
                            asyncio.get_running_loop().call_later(pause, unchoke)
                if writer.is_closing():
                    break
                await writer.drain()
        except (ConnectionError, ProtocolError):
            pass  # the other side dropped us (a ban) or broke the protocol
        finally:
            with self._lock:
                self.closed[remote] += 1
            writer.close()


def honest_blocks(data: bytes, info: InfoDict) -> BlockSource:
    def blocks(index: int, begin: int, length: int) -> bytes:
        start = index * info.piece_length + begin
        return data[start : start + length]

    return blocks


@dataclass(frozen=True)
class HalfSeed:
    data: bytes
    info: InfoDict
    pieces: set[int]  # the ones it serves: the first half
    peer: FakePeer


def half_seed(tracker_info: Path, admin: Client, src: Path, size: int, seed: int) -> HalfSeed:
    """Xavier, accepted into 'lab' by `admin`, registers `src` (`size` random bytes,
    written now) and serves only the first half of its pieces from a FakePeer (the
    caller closes it)."""
    data = write_random(src, size, seed=seed)
    xavier = member(tracker_info, admin, "xavier")
    info = xavier.register(src, "lab")
    half = set(range(info.num_pieces // 2))
    peer = FakePeer(xavier, info, honest_blocks(data, info), pieces_for=lambda _: half)
    return HalfSeed(data, info, half, peer)


def lying_blocks(index: int, begin: int, length: int) -> bytes:
    return secrets.token_bytes(length)


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    wait_until(predicate, timeout, what)


class PortForward:
    """A TCP port forward on loopback, as a NAT router does for a client behind it:
    accepts on `port` and relays each connection to `target_port`. ``watch``: count
    its occurrences in what the connecting side sends (e.g. one kind of HTTP request)."""

    def __init__(self, port: int, target_port: int, *, watch: bytes = b"") -> None:
        self.target_port = target_port
        self.relayed = 0  # bytes relayed, both directions
        self.watch = watch
        self.watched = 0  # occurrences of `watch` sent by the connecting side
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", port))
        self._server.settimeout(0.1)  # so that the accept loop notices close()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                inside, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            inside.settimeout(None)
            outside = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [inside, outside]
            for src, dst in ((inside, outside), (outside, inside)):
                watch = self.watch if src is inside else b""
                threading.Thread(target=self._pump, args=(src, dst, watch), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bytes) -> None:
        tail = b""  # the end of the previous chunk: a match may straddle two
        try:
            while data := src.recv(256 * KiB):
                dst.sendall(data)
                seen = (tail + data).count(watch) if watch else 0
                tail = data[-len(watch) + 1 :] if len(watch) > 1 else b""
                with self._lock:
                    self.relayed += len(data)
                    self.watched += seen
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._server.close()
        for sock in self._sockets:
            sock.close()  # the pumps end with an OSError


# -- folders ------------------------------------------------------------------------

FOLDER_PIECE = 64 * KiB  # piece_length_for() of the trees below (under 128 MiB)


def make_tree(root: Path, big: int = 3 * MiB + 123) -> None:
    """Nested folders, spaces and non-ASCII names, empty files (one exactly at a piece
    boundary), a file larger than a piece and many smaller ones, a hidden file; plus a
    link and an empty folder, which are not shared."""
    write_random(root / "a" / "00 exact.bin", 16 * FOLDER_PIECE, seed=1)  # 1 MiB
    write_random(root / "a" / "01 empty at a boundary", 0)
    write_random(root / "a" / "02 big.bin", big, seed=2)
    write_random(root / "b c" / "é ü straße.txt", 1000, seed=3)
    write_random(root / "b c" / "deep" / "deeper" / "x", 5, seed=4)
    for i in range(40):
        write_random(root / "many" / f"f{i:02}", 1 * KiB + 97 * i, seed=10 + i)
    write_random(root / ".hidden", 17, seed=5)
    write_random(root / "empty", 0)
    os.symlink(root / ".hidden", root / "link")
    (root / "no files here").mkdir()


def tree_hash(root: Path) -> str:
    """One hash of a tree: every file's path and bytes, and every folder's path."""
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or (path.is_dir() and not any(path.iterdir())):
            continue  # not shared
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        if path.is_file():
            digest.update(hashlib.sha1(path.read_bytes()).digest())
    return digest.hexdigest()
