"""What every workload shares: settings, result rows, process statistics, files, tools."""

from __future__ import annotations

import hashlib
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from minitorrent.driver import Process, stop_all

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

REPO = Path(__file__).resolve().parent.parent
LT_PEER = Path(__file__).resolve().parent / "lt_peer.py"
_CLK_TCK = os.sysconf("SC_CLK_TCK")

#: argon2id at its lowest cost for the benchmark's tracker: logging 20 users in is set-up, not
#: what is measured (no workload creates accounts or logs in while it is timed).
FAST_PASSWORD_HASH = {
    "MINITORRENT_TRACKER_PASSWORD_TIME_COST": "1",
    "MINITORRENT_TRACKER_PASSWORD_MEMORY_KIB": "8",
    "MINITORRENT_TRACKER_PASSWORD_PARALLELISM": "1",
}
#: The benchmark's tracker: fast password hashing, and no cap on sign-ups from one address
#: (W6 creates 200 accounts, all from 127.0.0.1).
BENCH_TRACKER_ENV = {**FAST_PASSWORD_HASH, "MINITORRENT_TRACKER_SIGNUP_MAX_PER_ADDRESS": "100000"}


P = TypeVar("P", bound=Process)
T = TypeVar("T")


class BenchError(Exception):
    """A workload could not be measured (a tool is missing, a transfer failed, ...)."""


class Missing(BenchError):
    """A reference tool is not installed."""


@dataclass(frozen=True)
class Shape:
    """A shaped swarm: ``peers`` downloaders of a ``size``-byte file, every upload capped at
    ``rate_mbit`` Mbit/s."""

    peers: int
    rate_mbit: float
    size: int

    def t_min(self) -> float:
        """The lower bound on the time until every downloader holds the file: the seeder must
        send each byte once, and the swarm must send N copies with all uploads combined."""
        rate = self.rate_mbit * 1e6 / 8
        return max(self.size / rate, self.peers * self.size / (rate + self.peers * rate))

    def describe(self) -> str:
        return f"N={self.peers}, rate={self.rate_mbit:g}, size={self.size >> 20}"


@dataclass(frozen=True)
class FolderShape:
    """A folder of ``files`` random files, each between ``low`` and ``high`` bytes."""

    files: int
    low: int
    high: int

    def describe(self) -> str:
        if self.low == self.high:
            return f"{self.files:,} files of {self.low >> 20} MiB"
        return f"{self.files:,} files of {self.low >> 10}-{self.high >> 10} KiB"


@dataclass(frozen=True)
class Sizes:
    w1: int
    w2: int
    w3: int
    w3_peers: int
    w3s: Shape
    w3g: tuple[Shape, ...]  # the growth series: same file and rate, more and more downloaders
    w4_seconds: int
    w4_connections: tuple[int, ...]
    w5: tuple[FolderShape, ...]  # many small files, a few big ones


FULL = Sizes(
    w1=1 * GiB,
    w2=1 * GiB,
    w3=256 * MiB,
    w3_peers=8,
    w3s=Shape(8, 80, 64 * MiB),
    w3g=tuple(Shape(n, 20, 16 * MiB) for n in (4, 8, 16, 32)),
    w4_seconds=10,
    w4_connections=(100, 1000),
    w5=(FolderShape(10_000, 4 * KiB, 64 * KiB), FolderShape(4, 256 * MiB, 256 * MiB)),
)
QUICK = Sizes(
    w1=64 * MiB,
    w2=32 * MiB,
    w3=16 * MiB,
    w3_peers=8,
    w3s=Shape(8, 80, 8 * MiB),
    w3g=tuple(Shape(n, 20, 1 * MiB) for n in (2, 4)),
    w4_seconds=2,
    w4_connections=(100, 1000),
    w5=(FolderShape(200, 4 * KiB, 64 * KiB), FolderShape(4, 4 * MiB, 4 * MiB)),
)


@dataclass(frozen=True)
class Target:
    """What a row must reach: the ratio (minitorrent / reference, within each run) or
    minitorrent's own figure, at most or at least ``value``."""

    on: Literal["ratio", "minitorrent"]
    op: Literal["≤", "≥"]
    value: float
    also: str = ""  # a condition the chart cannot show, e.g. "no errors"

    def __str__(self) -> str:
        return f"{self.on} {self.op} {self.value:g}" + (f", {self.also}" if self.also else "")

    def figures(self, row: Row) -> list[float]:
        return row.ratios() if self.on == "ratio" else row.mine

    def met(self, figure: float) -> bool:
        return figure <= self.value if self.op == "≤" else figure >= self.value


@dataclass
class Row:
    """One line of the table: minitorrent's figure and the reference's, one value per run."""

    workload: str
    metric: str
    reference: str
    better: Literal["lower", "higher"]
    target: Target | None = None
    mine: list[float] = field(default_factory=list)
    ref: list[float] = field(default_factory=list)
    ref_missing: str = ""  # why the reference has no figure ("n/a")
    error: str = ""  # why the row has no figure at all

    def side(self, mine: bool) -> list[float]:
        """minitorrent's figures or the reference's."""
        return self.mine if mine else self.ref

    def ratios(self) -> list[float]:
        return [m / r for m, r in zip(self.mine, self.ref, strict=False) if r > 0]


@dataclass
class Context:
    """Settings of this run plus everything it started (for the final clean-up)."""

    quick: bool
    runs: int
    sizes: Sizes
    tmp: Path
    log: Callable[[str], None]
    procs: list[Process] = field(default_factory=list)
    popens: list[subprocess.Popen[bytes]] = field(default_factory=list)
    loads: list[tuple[float, float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the W3 growth series for the chart: (downloaders, minitorrent's and the reference's
    #: time / T_min per run)
    growth: list[tuple[int, list[float], list[float]]] = field(default_factory=list)
    files: dict[tuple[str, int], Path] = field(default_factory=dict)
    sha1s: dict[Path, str] = field(default_factory=dict)

    def track(self, proc: P) -> P:
        self.procs.append(proc)
        return proc

    def sample_load(self) -> None:
        self.loads.append(os.getloadavg())

    def cleanup(self) -> None:
        stop_all(self.procs)
        for popen in self.popens:
            if popen.poll() is None:
                popen.terminate()
                try:
                    popen.wait(10)
                except subprocess.TimeoutExpired:
                    popen.kill()
                    popen.wait(10)

    def random_file(self, name: str, size: int) -> Path:
        """A file of ``size`` random bytes, made once per run of the benchmark."""
        key = (name, size)
        if key not in self.files:
            path = self.tmp / "data" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            self.log(f"writing {size / MiB:.0f} MiB of random data to {path.name}")
            write_random(path, size)
            self.files[key] = path
            self.sha1s[path] = file_sha1(path)
        return self.files[key]

    def random_folder(self, name: str, shape: FolderShape) -> Path:
        """A folder of random files (100 to a subfolder), made once per run of the benchmark;
        the sizes are drawn from a fixed seed, so every run has the same tree."""
        root = self.tmp / "data" / name
        if root.is_dir():
            return root
        self.log(f"writing {shape.describe()} to {root.name}")
        sizes = random.Random(shape.files).choices(range(shape.low, shape.high + 1), k=shape.files)
        for n, size in enumerate(sizes):
            path = root / f"d{n // 100:03}" / f"f{n:05}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_random(path, size)
        return root

    def verify(self, copy: Path, original: Path) -> None:
        """Raise unless ``copy`` has exactly the bytes of ``original``."""
        if not copy.is_file():
            raise BenchError(f"{copy} is missing after the transfer")
        if copy.stat().st_size != original.stat().st_size or file_sha1(copy) != self.sha1s.get(
            original, file_sha1(original)
        ):
            raise BenchError(f"{copy} differs from {original}")


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n


def file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    buf = memoryview(bytearray(4 * MiB))
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(buf[:n])
    return h.hexdigest()


def warm(path: Path) -> None:
    """Read a file once so that it is in the page cache."""
    buf = bytearray(4 * MiB)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def make_durable(paths: list[Path]) -> None:
    """fdatasync each file: the point minitorrent reaches before it reports a download done
    (libtorrent leaves its data in the page cache)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)


def memory_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * KiB
    return 0


def warm_memory(want: int, log: Callable[[str], None]) -> str:
    """Write then delete a tmpfs file of ``want`` bytes (bounded by free memory).

    A VM whose host backs guest memory lazily charges the first write into never-used memory
    (about 2 s of kernel time per GiB) to whichever process makes it; without this the leg
    that writes first pays for both.  Returns a sentence for the report."""
    shm = Path("/dev/shm")
    spare = memory_available() - 2 * GiB  # leave room for the workloads and everyone else
    if shm.is_dir():
        spare = min(spare, shutil.disk_usage(shm).free - 256 * MiB)
    size = max(0, min(want, spare)) // (16 * MiB) * (16 * MiB)
    if not shm.is_dir() or size == 0:
        return "Memory not warmed: no /dev/shm, or too little free memory."
    path = shm / f"minitorrent-bench-warm-{os.getpid()}"
    log(f"warming {size / GiB:.1f} GiB of memory through {path}")
    block = b"\xa5" * (16 * MiB)
    start = time.perf_counter()
    try:
        with open(path, "wb") as f:
            for _ in range(size // len(block)):
                f.write(block)
    finally:
        path.unlink(missing_ok=True)
    return (
        f"Memory warmed once at the start: {size / GiB:.1f} GiB written to a tmpfs file in "
        f"/dev/shm and deleted ({time.perf_counter() - start:.1f} s; wanted {want / GiB:.1f} "
        "GiB), so that no leg pays for the VM's first write into never-used memory (about 2 s "
        "of kernel time per GiB) on the other's behalf."
    )


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def take_turns(
    ctx: Context,
    tag: str,
    mine: Callable[[int], None],
    ref: Callable[[int], None] | None,
    durable: Row,
    cached: Row,
) -> None:
    """``ctx.runs`` runs of minitorrent's leg and the reference's (``None``: not installed);
    the order alternates, so that neither side always runs on the other's leftovers."""
    for run_no in range(ctx.runs):
        for leg in (mine, ref) if run_no % 2 == 0 else (ref, mine):
            if leg is not None:
                leg(run_no)
        ctx.log(
            f"{tag} run {run_no + 1}/{ctx.runs}: minitorrent {durable.mine[-1]:.2f} s, "
            "libtorrent "
            + (
                f"{durable.ref[-1]:.2f} s durable ({cached.ref[-1]:.2f} s cached)"
                if durable.ref
                else "n/a"
            )
        )


# -- processes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cpu:
    """CPU seconds in user space and in the kernel; ``b - a`` is the CPU spent in between."""

    user: float
    kernel: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.user - other.user, self.kernel - other.kernel)


def cpu_seconds(pid: int) -> Cpu:
    """utime and stime of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    return Cpu(int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK)


@dataclass
class CpuRows:
    """Two rows of the table, a process's user and kernel CPU over the timed part."""

    user: Row
    kernel: Row

    @classmethod
    def of(cls, label: str, who: str, reference: str) -> CpuRows:
        return cls(
            Row(label, f"{who} user CPU, s", reference, "lower"),
            Row(label, f"{who} kernel CPU, s", reference, "lower"),
        )

    def rows(self) -> list[Row]:
        return [self.user, self.kernel]

    def add(self, cpu: Cpu, *, mine: bool) -> None:
        self.user.side(mine).append(cpu.user)
        self.kernel.side(mine).append(cpu.kernel)


def own_cpu() -> Cpu:
    """The benchmark process's own CPU (all its threads: W1 hashes in-process)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Cpu(usage.ru_utime, usage.ru_stime)


def measure_mine(time_row: Row, cpu: CpuRows, work: Callable[[], T]) -> T:
    """Run ``work`` in the benchmark's process: its wall time into ``time_row`` and its CPU
    into ``cpu``, as minitorrent's figures; what it returns."""
    before = own_cpu()
    with timed() as t:
        result = work()
    time_row.mine.append(t[0])
    cpu.add(own_cpu() - before, mine=True)
    return result


def children_cpu() -> Cpu:
    """The CPU of every child process the benchmark has waited for (mktorrent)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Cpu(usage.ru_utime, usage.ru_stime)


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set size since the process started) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise BenchError(f"no VmHWM for process {pid}")


def rss_anon_mib(pid: int) -> float:
    """RssAnon (resident anonymous memory: heap, buffers; not mapped file pages) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return 0.0


class AnonPeak:
    """Samples a process's RssAnon every 20 ms in a thread: ``with AnonPeak(pid) as p: ...``
    then ``p.peak`` (MiB).  VmHWM also counts file pages a process maps (libtorrent 2 maps
    the files it shares), this does not."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            try:
                self.peak = max(self.peak, rss_anon_mib(self.pid))
            except OSError:
                return
            if self._stop.wait(0.02):
                return

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        with suppress(OSError):
            self.peak = max(self.peak, rss_anon_mib(self.pid))


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of a process (threads it starts later inherit it)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(int(task), cpus)


def python_script(script: Path, *args: str) -> list[str]:
    return [sys.executable, str(script), *args]


# -- tools -------------------------------------------------------------------------------------


def have_tool(name: str) -> str | None:
    return shutil.which(name)


def need_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Missing(
            f"{name} is not installed (Debian package {package}: `make bench-deps` as root, "
            f"or sudo apt-get install {package})"
        )
    return path


def optional_tool(ctx: Context, rows: list[Row], name: str, package: str) -> str | None:
    """The path of a reference tool; without it (allowed with ``--quick`` only) ``None``,
    and the rows say why their reference has no figure."""
    try:
        return need_tool(name, package)
    except Missing as exc:
        if not ctx.quick:
            raise
        for row in rows:
            row.ref_missing = str(exc)
        return None


def need_libtorrent() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import libtorrent"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        raise Missing(
            "the Python module libtorrent is missing (PyPI libtorrent, in the test extra: "
            "pip install -e '.[test]')"
        )


def package_version(package: str) -> str:
    if shutil.which("dpkg-query") is None:
        return "?"
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


def libtorrent_version() -> str:
    out = subprocess.run(
        [sys.executable, "-c", "import libtorrent; print(libtorrent.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "missing"


# -- statistics and formatting ------------------------------------------------------------------


def fmt(x: float) -> str:
    if x == 0:
        return "0"  # a count (failed requests), not "0.000"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def summary(values: list[float]) -> str:
    """``median (min-max)``, or the single value."""
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}-{fmt(max(values))})"


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the wall time in seconds."""
    out: list[float] = []
    start = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - start)
