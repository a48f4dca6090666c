"""A throwaway PostgreSQL server started by the test suite itself.

Each pytest process (each xdist worker) starts its own server, on a free loopback
port, the first time a test asks for it, and stops it at the end of the session.
One server per worker rather than one `xdist_group` owning a shared server: the
PostgreSQL tests then spread over both workers like every other test, and no
worker has to find, wait for or outlive another's server. initdb and start cost
about a second per worker, and only in a worker that runs a PostgreSQL test.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as
the unprivileged `postgres` user (created by Debian's package) through runuser,
in a temporary directory that user owns, with its unix socket there too.

MINITORRENT_TEST_POSTGRES_URL=postgresql://USER@HOST/DB uses a running server
instead (USER needs the CREATEDB right). Without either, the PostgreSQL tests
skip, unless CI is set: there a missing PostgreSQL is a failure.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from glob import glob
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
from sqlalchemy import make_url

from minitorrent.driver import free_port

EXTERNAL_URL_VAR = "MINITORRENT_TEST_POSTGRES_URL"
START_TIMEOUT_S = 30
# Durability buys nothing for a server that is deleted at the end of the run.
FAST_UNSAFE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def unavailable(reason: str) -> NoReturn:
    """Skip a PostgreSQL test, or fail it on CI, where every test must run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must run the PostgreSQL tests", pytrace=False)
    pytest.skip(reason)


def find_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL (/usr/lib/postgresql/N/bin), else initdb on PATH."""
    debian = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    if debian:
        return Path(debian[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _major_version(initdb: str) -> int:
    version = Path(initdb).parts[-3]
    return int(version) if version.isdigit() else 0


def _server_user() -> str | None:
    """Who runs the server: None for ourselves; as root, an unprivileged user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    unavailable("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL")


class LocalCluster:
    """initdb + pg_ctl in a temporary directory; trust authentication on loopback only."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="minitorrent-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, cwd=self.root
        )  # cwd: our own may be closed to the server user (e.g. under /root)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}{log[-2000:]}")

    def start(self) -> str:
        """initdb and start; the admin URL (superuser 'postgres', database 'postgres')."""
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        options = f"-h 127.0.0.1 -k {self.root} {FAST_UNSAFE}"
        for attempt in itertools.count(1):
            self.port = free_port()
            try:
                self._run(
                    "pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_S),
                    "-D", str(self.data), "-l", str(self.log),
                    "-o", f"-p {self.port} {options}",
                )  # fmt: skip
                break
            except RuntimeError:
                if attempt == 3:  # the free port was taken meanwhile, three times
                    raise
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class PostgresServer:
    """A server on which tests create (and drop) databases of their own."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        # Names unique per process: workers may share an external server.
        self._names = (f"mt_{os.getpid()}_{n}" for n in itertools.count())
        self._admin = psycopg.connect(admin_url, autocommit=True)

    def url(self, database: str) -> str:
        url = make_url(self.admin_url).set(database=database)
        return url.render_as_string(hide_password=False)

    def create_database(self, template: str | None = None) -> str:
        """A new database, empty or a copy of `template`; its name."""
        name = next(self._names)
        # FILE_COPY: 4x faster than the default WAL_LOG for a small template.
        copy = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        self._admin.execute(f"CREATE DATABASE {name}{copy}".encode())
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: a tracker killed with -9 may leave a connection behind for a moment.
        self._admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())

    @contextmanager
    def database(self, template: str | None = None) -> Iterator[str]:
        """The URL of a fresh database, dropped afterwards."""
        name = self.create_database(template)
        try:
            yield self.url(name)
        finally:
            self.drop_database(name)

    def close(self) -> None:
        self._admin.close()


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The external server of MINITORRENT_TEST_POSTGRES_URL, or a throwaway local one."""
    external = os.environ.get(EXTERNAL_URL_VAR)
    if external:
        server = PostgresServer(external)
        try:
            yield server
        finally:
            server.close()
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        unavailable(
            f"no PostgreSQL server binaries (apt-get install postgresql, or set {EXTERNAL_URL_VAR})"
        )
    cluster = LocalCluster(bin_dir)
    try:
        server = PostgresServer(cluster.start())
        try:
            yield server
        finally:
            server.close()
    finally:
        cluster.stop()
