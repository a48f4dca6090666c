"""Several trackers on one PostgreSQL database, and clients failing over between
them: real tracker and client processes, a real PostgreSQL server (tests/postgres.py).

The tests that share one module-wide pair of trackers are in one xdist group, so that
the pair starts once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from fastbencode import bdecode  # type: ignore[attr-defined]

from minitorrent.driver import Client, Tracker, free_port, password_of, stop_all, wait_until

from ..conftest import FAST_PASSWORD_HASH
from ..postgres import PostgresServer
from .sharing_helpers import MiB, TrackerUser, download_line, quote, sha1_hex, write_random

SHARED_PAIR = pytest.mark.xdist_group("several_trackers")


@dataclass
class TrackerPair:
    """Trackers 1 and 2 of one tracker_info.txt, on one PostgreSQL database."""

    processes: tuple[Tracker, Tracker]
    urls: tuple[str, str]
    tmp: Path

    def info(self, *numbers: int) -> Path:
        """A tracker_info.txt listing these trackers (1 and/or 2), in this order."""
        path = self.tmp / f"trackers-{''.join(map(str, numbers))}.txt"
        path.write_text("".join(self.urls[n - 1].removeprefix("http://") + "\n" for n in numbers))
        return path

    def port(self, number: int) -> int:
        return int(self.urls[number - 1].rsplit(":", 1)[1])


@contextmanager
def tracker_pair(tmp: Path, db_url: str) -> Iterator[TrackerPair]:
    ports = (free_port(), free_port())
    both = tmp / "tracker_info.txt"
    both.write_text("".join(f"127.0.0.1:{port}\n" for port in ports))

    def start(number: int) -> Tracker:
        return Tracker(both, number, db_url, env=FAST_PASSWORD_HASH)

    # Started together on an empty database: both migrate it at once (advisory lock).
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(start, number) for number in (1, 2)]
    started = [f.result() for f in futures if f.exception() is None]
    if len(started) < 2:
        stop_all(started)  # don't leak the one that did start
        next(f for f in futures if f.exception() is not None).result()  # raises
    first, second = started
    try:
        urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
        yield TrackerPair((first, second), urls, tmp)
    finally:
        stop_all([first, second])


@pytest.fixture(scope="module")
def trackers(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[TrackerPair]:
    """One pair for the tests that leave both trackers running (tracker starts are slow);
    each of those tests uses users and groups of its own."""
    with postgres.database() as url, tracker_pair(tmp_path_factory.mktemp("pair"), url) as pair:
        yield pair


@pytest.fixture
def own_trackers(tmp_path: Path, postgres_url: str) -> Iterator[TrackerPair]:
    """A pair for a test that kills one of them."""
    with tracker_pair(tmp_path, postgres_url) as pair:
        yield pair


def login(client: Client, user: str, *, create: bool = True) -> None:
    if create:
        client.ok(f"create_user {user} {password_of(user)}")
    client.ok(f"login {user} {password_of(user)}")


def answered_last(client: Client) -> str:
    """The tracker URL that the `trackers` command marks with '*'."""
    marked = [line.split()[1] for line in client.ok("trackers") if line.startswith("*")]
    assert len(marked) == 1, marked
    return marked[0]


@SHARED_PAIR
def test_accounts_groups_and_sessions_are_shared_by_both_trackers(
    trackers: TrackerPair, start_client: Callable[..., Client], tmp_path: Path
) -> None:
    alice = start_client(info=trackers.info(1))  # knows tracker 1 only
    bob = start_client(info=trackers.info(2, 1))  # knows both, tracker 2 first
    login(alice, "alice")
    alice.ok("create_group lab")
    login(bob, "bob")
    assert answered_last(bob) == trackers.urls[1]
    assert any(re.fullmatch(r"\s*lab\s+alice\s+1", line) for line in bob.ok("list_groups"))
    bob.ok("join_group lab")
    assert "bob" in " ".join(alice.ok("list_requests lab"))
    alice.ok("accept_request lab bob")
    assert "bob" in " ".join(bob.ok("list_members lab"))

    # Created through tracker 1, logs in through tracker 2 (another process, same user).
    alice_there = start_client(info=trackers.info(2), state="alice-2")
    login(alice_there, "alice", create=False)
    assert any(line.startswith("* ") for line in alice_there.ok("list_groups"))

    # A real BitTorrent client gets every tracker of the file, in its order (BEP 12).
    write_random(tmp_path / "data" / "notes.bin", 64 * 1024)
    bob.ok(f"upload_file {quote(tmp_path / 'data' / 'notes.bin')} lab")
    bob.ok(f"export_torrent lab notes.bin {quote(tmp_path / 'notes.torrent')}")
    torrent = bdecode((tmp_path / "notes.torrent").read_bytes())
    passkey = api_login(trackers.urls[0], "bob")["passkey"]
    tiers = [[f"{url}/announce/{passkey}".encode()] for url in trackers.urls[::-1]]
    assert torrent[b"announce-list"] == tiers
    assert torrent[b"announce"] == tiers[0][0]


def api_login(tracker_url: str, user: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{tracker_url}/api/v1/sessions", json={"user_id": user, "password": password_of(user)}
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


@SHARED_PAIR
def test_a_session_token_is_valid_on_every_tracker(trackers: TrackerPair) -> None:
    user = TrackerUser(trackers.port(1), "carol", password_of("carol"))
    other = httpx.Client(base_url=f"{trackers.urls[1]}/api/v1", headers=user.http.headers)
    try:
        assert other.get("/me").json()["user_id"] == "carol"
        assert other.delete("/sessions/current").status_code == 204
        assert user.http.get("/me").status_code == 401  # revoked on tracker 1 too, at once
    finally:
        other.close()
        user.close()


def test_download_finishes_when_tracker_1_is_killed_and_commands_go_to_tracker_2(
    own_trackers: TrackerPair, start_client: Callable[..., Client], tmp_path: Path
) -> None:
    trackers = own_trackers
    info = trackers.info(1, 2)
    alice, bob = start_client(info=info, state="alice"), start_client(info=info, state="bob")
    login(alice, "alice")
    alice.ok("create_group lab")
    login(bob, "bob")
    bob.ok("join_group lab")
    alice.ok("accept_request lab bob")
    data = write_random(tmp_path / "alice" / "big.bin", 4 * MiB, seed=7)
    alice.ok(f"upload_file {quote(tmp_path / 'alice' / 'big.bin')} lab")
    alice.ok("logout")  # the file stays listed; nobody serves it for now
    bob.ok(f"download_file lab big.bin {quote(tmp_path / 'big.bin')}")
    assert download_line(bob, "lab", "big.bin").startswith("[D]")
    assert answered_last(bob) == trackers.urls[0]

    trackers.processes[0].kill()  # kill -9, while bob's download waits for a peer
    assert download_line(bob, "lab", "big.bin").startswith("[D]")  # show_downloads runs on
    login(alice, "alice", create=False)  # shares again: announces reach tracker 2
    bob.ok("wait")
    assert sha1_hex((tmp_path / "big.bin").read_bytes()) == sha1_hex(data)
    assert any(re.fullmatch(r"\*?\s*lab\s+alice\s+2", line) for line in bob.ok("list_groups"))
    assert answered_last(bob) == answered_last(alice) == trackers.urls[1]


def announce_json(tracker_url: str, token: str, info_hash: str, peer: int) -> list[int]:
    """A JSON announce of peer number `peer` (port 7000 + peer); the ports it is given."""
    body = {
        "info_hash": info_hash,
        "peer_id": f"{peer:040x}",
        "ip": "127.0.0.1",
        "port": 7000 + peer,
        "left": 0,
        "interval": 300,
    }
    answer = httpx.post(
        f"{tracker_url}/api/v1/announce", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return sorted(p["port"] for p in answer.json()["peers"])


def announce_bittorrent(tracker_url: str, passkey: str, info_hash: str, peer: int) -> list[int]:
    """The same through the bencoded /announce/<passkey> of real clients (compact)."""
    query = {
        "info_hash": quote_from_bytes(bytes.fromhex(info_hash)),
        "peer_id": quote_from_bytes(f"{peer:020d}".encode()),
        "port": 7000 + peer,
        "uploaded": 0,
        "downloaded": 0,
        "left": 0,
        "compact": 1,
    }
    url = f"{tracker_url}/announce/{passkey}?" + "&".join(f"{k}={v}" for k, v in query.items())
    compact = bdecode(httpx.get(url).content)[b"peers"]
    return sorted(int.from_bytes(compact[i + 4 : i + 6], "big") for i in range(0, len(compact), 6))


def within_2_s(ask: Callable[[], list[int]], expected: list[int]) -> None:
    """Ask until the answer is `expected`: the bound on peer lists across trackers."""
    answers: list[list[int]] = []

    def answered() -> bool:
        answers.append(ask())
        return answers[-1] == expected

    wait_until(answered, 2.0, f"the peers {expected}")


@SHARED_PAIR
def test_both_trackers_serve_one_swarm(trackers: TrackerPair, tmp_path: Path) -> None:
    one, two = trackers.urls
    ann = TrackerUser(trackers.port(1), "ann", password_of("ann"))
    ann.http.post("/groups", json={"group_id": "swarm"}).raise_for_status()
    write_random(tmp_path / "f.bin", 100_000)
    info_hash = ann.register(tmp_path / "f.bin", "swarm").info_hash_hex
    ann.close()
    via_one, via_two = api_login(one, "ann"), api_login(two, "ann")

    # Peers announced to one tracker are in the other's answers within 2 s:
    # new peers are written at once, re-announces are answered from a snapshot of the
    # swarm that is at most a second old (tracker/services/swarm_cache.py).
    assert announce_json(one, via_one["token"], info_hash, peer=1) == []
    assert announce_json(two, via_two["token"], info_hash, peer=2) == [7001]
    within_2_s(lambda: announce_json(one, via_one["token"], info_hash, peer=1), [7002])
    passkey = via_two["passkey"]
    within_2_s(lambda: announce_bittorrent(two, passkey, info_hash, peer=3), [7001, 7002])
    within_2_s(lambda: announce_bittorrent(one, passkey, info_hash, peer=4), [7001, 7002, 7003])
