"""Load generator: simulated users against one tracker's JSON API (asyncio).

Runs as its own process (``python -m tests.load.loadgen MODE --port PORT ...``) so that its
CPU is not the test's. It speaks HTTP/1.1 itself (:class:`Connection`, one keep-alive
connection per user): httpx cost about 3 ms of CPU per request here, as much as the
tracker, so with it the load generator, not the tracker, set the pace on two cores.

Each simulated user has at most one request in flight; together they start ``--rate``
steps per second (a late user catches up) and stop by themselves after ``--duration``
seconds. The process prints ``warm-up done`` after ``--warmup`` seconds and, at the end,
one ``result {json}`` line.

Modes:

* ``mixed`` (the load test; one step = one request): users announce, read their groups
  and files, and churn memberships (join, accepted by the admin, look, leave; create a
  group of their own and leave it). Every request must succeed; anything else is a
  failure.
* ``grow`` (the tracker-crash test; one step = up to five requests): only additive
  writes — a new user, a new group, a member accepted into it, a file registered in it —
  each appended to ``--journal`` once the tracker answered 2xx, i.e. committed. Failures
  are expected while the tracker is down: they are counted and the step gives up.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from minitorrent.metainfo import InfoDict

API = "/api/v1"
PASSWORD = "load-test-password"
SETUP_CONCURRENCY = 32
REQUEST_TIMEOUT = 30.0


class NoAnswer(Exception):
    """The request got no HTTP answer (connection refused, reset, closed)."""


class Connection:
    """One keep-alive HTTP/1.1 connection to the tracker, reopened when needed.

    Enough HTTP for the tracker's answers (uvicorn: Content-Length, no chunking)."""

    IDLE_REOPEN = 2.0  # well before uvicorn's 5 s keep-alive timeout closes it

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._used = 0.0
        self._lock = asyncio.Lock()  # one request at a time on the connection

    async def request(self, method: str, path: str, token: str, body: Any) -> tuple[int, bytes]:
        async with self._lock:
            return await self._request(method, path, token, body)

    async def _request(self, method: str, path: str, token: str, body: Any) -> tuple[int, bytes]:
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {API}{path} HTTP/1.1", f"Host: {self.host}"]
        head.append(f"Content-Length: {len(payload)}")
        if body is not None:
            head.append("Content-Type: application/json")
        if token:
            head.append(f"Authorization: Bearer {token}")
        if self._streams is not None and time.monotonic() - self._used > self.IDLE_REOPEN:
            self.close()  # else the request may race the server closing it
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                if self._streams is None:
                    self._streams = await asyncio.open_connection(self.host, self.port)
                reader, writer = self._streams
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                data = await reader.readexactly(length)
        except (OSError, IndexError, ValueError, asyncio.IncompleteReadError) as exc:
            self.close()
            raise NoAnswer(type(exc).__name__) from None
        self._used = time.monotonic()
        return status, data

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


@dataclass
class User:
    index: int
    name: str
    http: Connection
    token: str = ""
    peer_id: str = field(default_factory=lambda: secrets.token_hex(20))
    home: int = 0  # index of the user's group (mixed)
    announced: set[str] = field(default_factory=set)
    steps: int = 0
    churn: int = 0  # next step of the membership churn (mixed)


def fake_info(group: str, name: str, seed: int) -> InfoDict:
    """A valid private info dict (4 pieces of 256 KiB) with no file behind it."""
    pieces = b"".join(hashlib.sha1(f"{seed}/{i}".encode()).digest() for i in range(4))
    return InfoDict(name, 4 * 256 * 1024, 256 * 1024, pieces, group)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


class LoadGen:
    def __init__(
        self, host: str, port: int, *, users: int, groups: int, files: int, seed: int
    ) -> None:
        self.rng = random.Random(seed)
        self.users = [User(i, f"lu{i:04d}", Connection(host, port)) for i in range(users)]
        self.n_groups = groups
        self.files_per_group = files
        self.infos: list[list[InfoDict]] = []
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()
        self.samples: list[str] = []
        self.unanswered = 0  # requests that got no HTTP answer
        self.mix: Counter[str] = Counter()  # mixed: steps of each kind

    def close(self) -> None:
        for user in self.users:
            user.http.close()

    # -- one request ----------------------------------------------------------------------

    async def call(
        self,
        user: User,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        *,
        expect: int = 200,
    ) -> Any:
        """One request over `user`'s connection, with `token` (default: the user's own; ""
        for none): its decoded body if the status is `expect`, else None (a failure)."""
        start = time.perf_counter()
        try:
            status, data = await user.http.request(
                method, path, user.token if token is None else token, body
            )
        except NoAnswer as exc:
            self.unanswered += 1
            self._failed(method, path, str(exc))
            return None
        self.latencies.append(time.perf_counter() - start)
        if status != expect:
            self._failed(method, path, f"HTTP {status} {data[:200]!r}")
            return None
        return json.loads(data) if data else {}

    def _failed(self, method: str, path: str, why: str) -> None:
        self.failures[why.split()[0] if why.startswith("HTTP") else why] += 1
        if len(self.samples) < 20:
            self.samples.append(f"{method} {path}: {why}")

    async def register(self, user: User, info: InfoDict) -> bool:
        body = {"info": base64.b64encode(info.encode()).decode(), "sha1": "0" * 40}
        path = f"/groups/{info.source}/files"
        return await self.call(user, "POST", path, body=body, expect=201) is not None

    async def join(self, user: User, group: str, admin: User) -> bool:
        """Request to join `group`; its admin accepts."""
        if await self.call(user, "POST", f"/groups/{group}/requests", expect=201) is None:
            return False
        accept = f"/groups/{group}/requests/{user.name}/accept"
        return await self.call(user, "POST", accept, admin.token) is not None

    # -- setup ------------------------------------------------------------------------------

    async def _bounded(self, jobs: list[Awaitable[object]]) -> None:
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def run(job: Awaitable[object]) -> None:
            async with gate:
                await job

        await asyncio.gather(*(run(job) for job in jobs))

    async def _create_and_login(self, user: User) -> None:
        credentials = {"user_id": user.name, "password": PASSWORD}
        await self.call(user, "POST", "/users", "", credentials, expect=201)
        body = await self.call(user, "POST", "/sessions", "", credentials, expect=201)
        if body is not None:
            user.token = body["token"]

    def group_name(self, index: int) -> str:
        return f"lg{index:03d}"

    def admin_of(self, group: int) -> User:
        return self.users[group * len(self.users) // self.n_groups]

    async def setup(self, *, with_groups: bool) -> None:
        """Users (logged in); for `mixed` also groups with their members and files."""
        await self._bounded([self._create_and_login(u) for u in self.users])
        if with_groups:
            for g in range(self.n_groups):
                admin = self.admin_of(g)
                body = {"group_id": self.group_name(g)}
                await self.call(admin, "POST", "/groups", body=body, expect=201)
            jobs: list[Awaitable[object]] = []
            for user in self.users:
                user.home = user.index * self.n_groups // len(self.users)
                admin = self.admin_of(user.home)
                if user is not admin:
                    jobs.append(self.join(user, self.group_name(user.home), admin))
            await self._bounded(jobs)
            self.infos = [
                [
                    fake_info(self.group_name(g), f"file{k}.bin", g * 1000 + k)
                    for k in range(self.files_per_group)
                ]
                for g in range(self.n_groups)
            ]
            await self._bounded(
                [
                    self.register(self.admin_of(g), info)
                    for g in range(self.n_groups)
                    for info in self.infos[g]
                ]
            )
        if self.failures:
            raise SystemExit(f"setup failed: {self.samples}")
        self.latencies.clear()
        self.unanswered = 0

    # -- pacing -----------------------------------------------------------------------------

    async def paced(
        self, rate: float, duration: float, warmup: float, step: Callable[[User], Awaitable[None]]
    ) -> dict[str, Any]:
        """Start `rate` steps per second in all (a late user catches up) for `duration` s."""
        start = time.monotonic()
        slot = 0
        warm = False

        async def user_loop(user: User) -> None:
            nonlocal slot, warm
            while True:
                at = start + slot / rate
                if at >= start + duration or time.monotonic() >= start + duration:
                    return  # a slow tracker means fewer requests, not a longer run
                slot += 1
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not warm and time.monotonic() - start >= warmup:
                    warm = True
                    print("warm-up done", flush=True)
                await step(user)
                user.steps += 1

        async def report() -> None:
            while True:
                await asyncio.sleep(10)
                print(
                    f"{time.monotonic() - start:.0f} s: {len(self.latencies)} answers, "
                    f"{sum(self.failures.values())} failures",
                    flush=True,
                )

        reporter = asyncio.create_task(report())
        await asyncio.gather(*(user_loop(u) for u in self.users))
        reporter.cancel()
        elapsed = time.monotonic() - start
        lat = sorted(self.latencies)
        requests = len(lat) + self.unanswered
        return {
            "requests": requests,
            "failed": sum(self.failures.values()),
            "failures": dict(self.failures),
            "samples": self.samples,
            "seconds": round(elapsed, 2),
            "rps": round(requests / elapsed, 1),
            "p50_ms": round(1000 * percentile(lat, 50), 2),
            "p99_ms": round(1000 * percentile(lat, 99), 2),
            "max_ms": round(1000 * (lat[-1] if lat else 0.0), 2),
            "mix": dict(self.mix),
        }

    # -- mixed: the load test's users ---------------------------------------------------------

    async def mixed_step(self, user: User) -> None:
        """One request: an announce (half), a read (30%) or the next churn step (20%)."""
        roll = self.rng.random()
        home = self.group_name(user.home)
        self.mix[("announce" if roll < 0.5 else "read" if roll < 0.8 else "churn")] += 1
        if roll < 0.5:
            info = self.rng.choice(self.infos[user.home])
            first = info.info_hash_hex not in user.announced
            user.announced.add(info.info_hash_hex)
            body = {
                "info_hash": info.info_hash_hex,
                "peer_id": user.peer_id,
                "ip": "127.0.0.1",
                "port": 20000 + user.index,
                "uploaded": user.steps * 16384,
                "downloaded": 0,
                "left": 0 if user.index % 2 else info.length,
                "event": "started" if first else "",
                "interval": 1800,
            }
            await self.call(user, "POST", "/announce", body=body)
        elif roll < 0.8:
            paths = ["/groups", f"/groups/{home}/files", f"/groups/{home}/members", "/me"]
            await self.call(user, "GET", self.rng.choice(paths))
        else:
            await self._churn(user)

    async def _churn(self, user: User) -> None:
        """The user's next step of: join the next group (its admin accepts), list its
        members, leave it; create a group of one's own, leave it (it disappears)."""
        other = (user.home + 1) % self.n_groups
        group, own = self.group_name(other), f"lt-{user.name}"
        steps = [
            ("POST", f"/groups/{group}/requests", user.token, None, 201),
            (
                "POST",
                f"/groups/{group}/requests/{user.name}/accept",
                self.admin_of(other).token,
                None,
                200,
            ),
            ("GET", f"/groups/{group}/members", user.token, None, 200),
            ("DELETE", f"/groups/{group}/membership", user.token, None, 200),
            ("POST", "/groups", user.token, {"group_id": own}, 201),
            ("DELETE", f"/groups/{own}/membership", user.token, None, 200),
        ]
        method, path, token, body, expect = steps[user.churn]
        user.churn = (user.churn + 1) % len(steps)
        await self.call(user, method, path, token, body, expect=expect)

    # -- grow: the crash test's writers --------------------------------------------------------

    async def grow_step(self, user: User, journal: TextIO) -> None:
        """A new user; a new group; another user joins it; a file is shared in it."""
        tag = f"{user.index:03d}x{user.steps}"
        new_user = {"user_id": f"gu{tag}", "password": PASSWORD}
        if await self.call(user, "POST", "/users", "", new_user, expect=201) is not None:
            record(journal, "user", new_user["user_id"])
        group = f"gg{tag}"
        if await self.call(user, "POST", "/groups", body={"group_id": group}, expect=201) is None:
            return
        record(journal, "member", group, user.name)
        joiner = self.users[(user.index + 1) % len(self.users)]
        if not await self.join(joiner, group, user):
            return
        record(journal, "member", group, joiner.name)
        info = fake_info(group, "f.bin", hash(tag))
        if await self.register(user, info):
            record(journal, "file", info.info_hash_hex)


def record(journal: TextIO, *fields: str) -> None:
    journal.write(json.dumps(fields) + "\n")
    journal.flush()  # the loadgen may be stopped at any time


async def main(args: argparse.Namespace) -> dict[str, Any]:
    gen = LoadGen(
        "127.0.0.1",
        args.port,
        users=args.users,
        groups=args.groups,
        files=args.files,
        seed=args.seed,
    )
    try:
        began = time.monotonic()
        await gen.setup(with_groups=args.mode == "mixed")
        print(f"setup done in {time.monotonic() - began:.1f} s", flush=True)
        if args.mode == "mixed":
            return await gen.paced(args.rate, args.duration, args.warmup, gen.mixed_step)
        with open(args.journal, "a", encoding="utf-8") as journal:
            return await gen.paced(
                args.rate, args.duration, args.warmup, lambda u: gen.grow_step(u, journal)
            )
    finally:
        gen.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.load.loadgen")
    parser.add_argument("mode", choices=["mixed", "grow"])
    parser.add_argument("--port", type=int, required=True, help="the tracker's, on 127.0.0.1")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--files", type=int, default=5, help="files per group")
    parser.add_argument("--rate", type=float, default=1000.0, help="steps per second")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--journal", help="grow: where committed writes are appended")
    args = parser.parse_args(argv)
    if args.mode == "grow" and not args.journal:
        parser.error("grow needs --journal")
    return args


if __name__ == "__main__":
    import uvloop

    result = uvloop.run(main(parse_args()))
    print("result " + json.dumps(result), flush=True)
