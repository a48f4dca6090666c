"""The client run unattended (systemd, cron, nohup): its commands come from a regular
file, from /dev/null with ``--script FILE``, or from a pipe; every error line names
the script line that failed."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from minitorrent.driver import Client, password_of

from .sharing_helpers import MiB, quote, write_random

StartClient = Callable[..., Client]
SCRIPT = [
    "# a comment: line 1",
    f"create_user alice {password_of('alice')}",
    "",
    "frobnicate",  # line 4
    f"login alice {password_of('alice')}",
    "list_members nope   # line 6",
    "echo done",
]
SCRIPT_OUT = ["user 'alice' created", "logged in as 'alice'", "done"]
SCRIPT_ERR = [
    "error: line 4: unknown command 'frobnicate' (type help for the list)",
    "error: line 6: no such group 'nope'",
]


@contextmanager
def standard_input(kind: str, script: Path) -> Iterator[tuple[int | IO[bytes], tuple[str, ...]]]:
    """(stdin for the client, extra arguments) so that it runs `script`: redirected from
    the file, from /dev/null with --script, or written to a pipe by the test."""
    if kind == "pipe":
        yield subprocess.PIPE, ()
        return
    with open(script if kind == "file" else os.devnull, "rb") as f:
        yield f, (() if kind == "file" else ("--script", str(script)))


def write_script(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    path.chmod(0o600)  # it holds a password
    return path


def start_script(start_client: StartClient, kind: str, script: Path, **options: object) -> Client:
    with standard_input(kind, script) as (stdin, extra):
        client = start_client(*extra, stdin=stdin, **options)
    if kind == "pipe":
        assert client.popen.stdin is not None
        client.popen.stdin.write(script.read_text())
        client.close_stdin()
    return client


@pytest.mark.parametrize("kind", ["file", "devnull-script", "pipe"])
def test_a_script_runs_from_each_kind_of_standard_input(
    make_client: StartClient, tmp_path: Path, kind: str
) -> None:
    script = write_script(tmp_path / "script.txt", SCRIPT)
    client = start_script(make_client, kind, script, merge_stderr=False)
    assert client.wait(timeout=30) == 1  # a command failed
    assert (client.lines, client.err_lines) == (SCRIPT_OUT, SCRIPT_ERR)


def test_empty_input_from_dev_null_exits_0_without_output(start_client: StartClient) -> None:
    with open(os.devnull, "rb") as devnull:
        client = start_client(stdin=devnull, merge_stderr=False)
    assert client.wait(timeout=30) == 0
    assert (client.lines, client.err_lines) == ([], [])


def test_a_last_line_without_newline_runs(start_client: StartClient, tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text("echo first\necho last")
    client = start_client("--script", str(script))
    assert client.wait(timeout=30) == 0
    assert client.lines == ["first", "last"]


def test_a_script_that_cannot_be_read_is_one_error_line(
    start_client: StartClient, tmp_path: Path
) -> None:
    for path, why in [
        (tmp_path / "missing.txt", "No such file or directory"),
        (tmp_path, "it is a directory"),
    ]:
        client = start_client("--script", str(path))
        assert client.wait(timeout=30) == 2
        assert client.lines == [f"error: cannot read script {path}: {why}"]


def test_errors_at_the_terminal_name_no_line(make_client: StartClient) -> None:
    # Through a pipe (as every driven client) the line number is there; see the
    # driver's `fails`, which checks it for every refusal in the suite.
    client = make_client()
    client.ok("echo one")
    assert client.run("frobnicate") == [
        "error: line 3: unknown command 'frobnicate' (type help for the list)"
    ]


@pytest.mark.parametrize("kind", ["file", "devnull-script", "pipe"])
def test_a_seeder_logs_in_from_a_file_and_serves(
    make_client: StartClient, tmp_path: Path, kind: str
) -> None:
    """The shape of docs/running-unattended.md: `login` then `serve`, until SIGTERM."""
    src = tmp_path / "seed" / "notes.bin"
    data = write_random(src, 2 * MiB, seed=3)
    setup = make_client(state="seeder")
    ann = make_client(state="ann")
    setup.ok(f"create_user seeder {password_of('seeder')}")
    setup.ok(f"login seeder {password_of('seeder')}")
    setup.ok("create_group lab")
    ann.ok(f"create_user ann {password_of('ann')}")
    ann.ok(f"login ann {password_of('ann')}")
    ann.ok("join_group lab")
    setup.ok("accept_request lab ann")
    setup.ok(f"upload_file {quote(src)} lab")
    assert setup.quit() == 0

    script = write_script(
        tmp_path / "seeder.txt", [f"login seeder {password_of('seeder')}", "serve"]
    )
    seeder = start_script(make_client, kind, script, state="seeder")
    seeder.wait_for_line(r"^serving on 127\.0\.0\.1:\d+; stop with SIGINT or SIGTERM$")
    assert seeder.lines[:2] == ["logged in as 'seeder'", "sharing 1 file(s) again"]

    dest = tmp_path / "ann"
    dest.mkdir()
    ann.ok(f"download_file lab notes.bin {quote(dest)}")
    assert ann.ok("wait", timeout=120) == ["1 download(s) complete"]
    assert (dest / "notes.bin").read_bytes() == data

    seeder.signal(signal.SIGTERM)
    assert seeder.wait(timeout=30) == 0
    assert not [line for line in seeder.lines if line.startswith(("error", "Traceback"))]
