"""The client driven by a script: standard input and output are pipes."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable

import pytest

from minitorrent.driver import Client, password_of

from .helpers import COMMANDS, groups_view

ANSI = re.compile(r"\x1b\[")
BOX_DRAWING = re.compile(r"[\u2500-\u257f]")


def no_traceback(lines: list[str]) -> None:
    assert not any("Traceback" in line or "Exception" in line for line in lines), lines


def test_ready_in_well_under_a_second(
    start_client: Callable[..., Client], report: Callable[[str], None]
) -> None:
    started = time.monotonic()
    client = start_client()
    assert client.run("echo ready", timeout=10) == ["ready"]
    elapsed = time.monotonic() - started
    report(f"client start to first command's output: {elapsed:.2f} s")
    assert elapsed < 3


def test_commands_run_as_they_arrive(make_client: Callable[..., Client]) -> None:
    client = make_client()
    client.send("create_user alice pw")
    client.wait_for_line(r"^user 'alice' created$", timeout=10)  # stdin still open
    client.send("login alice pw")
    client.wait_for_line(r"^logged in as 'alice'$", timeout=10)
    assert client.popen.poll() is None


def test_a_failing_command_prints_one_error_line_on_stderr(
    make_client: Callable[..., Client], live_sessions: Callable[[str], int]
) -> None:
    client = make_client(merge_stderr=False)
    code = client.script(
        [
            "create_user alice s3cret",
            "login alice wrong",  # wrong password
            "login alice s3cret",
            "login alice s3cret",  # already logged in
            "list_members nope",  # no such group
            "frobnicate",  # unknown command
            "create_group",  # wrong argument count
            'echo "unclosed',  # cannot be parsed
            "# a comment line does nothing",
            "",
            "create_group lab",
            "echo done",
        ]
    )
    assert code == 1
    assert client.lines == [
        "user 'alice' created",
        "logged in as 'alice'",
        "group 'lab' created; you are its admin",
        "done",
    ]
    assert len(client.err_lines) == 6, client.err_lines
    for line, (number, reason) in zip(
        client.err_lines,
        [
            (2, "wrong user id or password"),
            (4, "already logged in"),
            (5, "no such group 'nope'"),
            (6, "unknown command 'frobnicate'"),
            (7, "usage: create_group <group_id>"),
            (8, "cannot parse"),
        ],
        strict=True,
    ):
        assert line.startswith(f"error: line {number}: ") and reason in line, line
    no_traceback(client.lines + client.err_lines)
    assert live_sessions("alice") == 0  # logged out at the end of input


def test_end_of_input_exits_0_when_nothing_failed(
    make_client: Callable[..., Client], live_sessions: Callable[[str], int]
) -> None:
    client = make_client(merge_stderr=False)
    code = client.script(
        [f"create_user bob {password_of('bob')}", f"login bob {password_of('bob')}", "list_groups"]
    )
    assert (code, client.err_lines) == (0, [])
    assert client.lines == ["user 'bob' created", "logged in as 'bob'", "no groups"]
    assert live_sessions("bob") == 0


@pytest.mark.parametrize("failed", [False, True])
def test_quit_logs_out_and_exits_at_once(
    make_client: Callable[..., Client], live_sessions: Callable[[str], int], failed: bool
) -> None:
    client = make_client(merge_stderr=False)
    script = [f"create_user bob {password_of('bob')}", f"login bob {password_of('bob')}"]
    script += ["list_members nope"] if failed else []
    script += ["quit", "create_user never pw", "echo not reached"]
    assert client.script(script) == (1 if failed else 0)
    assert client.lines == ["user 'bob' created", "logged in as 'bob'"]
    assert live_sessions("bob") == 0
    other = make_client()
    other.fails("login never pw", r"wrong user id or password")


def test_quit_does_not_wait_for_end_of_input(make_client: Callable[..., Client]) -> None:
    client = make_client()
    client.ok(f"create_user bob {password_of('bob')}")
    assert client.quit(timeout=10) == 0  # standard input is still open


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_logs_out_and_exits_cleanly(
    make_client: Callable[..., Client], live_sessions: Callable[[str], int], sig: int
) -> None:
    client = make_client()
    client.ok(f"create_user carol {password_of('carol')}")
    client.ok(f"login carol {password_of('carol')}")
    client.ok("create_group lab")
    assert live_sessions("carol") == 1
    client.signal(sig)
    assert client.wait(timeout=15) == 0
    no_traceback(client.lines)
    assert live_sessions("carol") == 0  # the session was revoked
    make_client().ok(f"login carol {password_of('carol')}")


def test_signal_after_a_failure_exits_1(start_client: Callable[..., Client]) -> None:
    client = start_client()
    client.fails("list_groups", r"not logged in")
    client.signal(signal.SIGTERM)
    assert client.wait(timeout=15) == 1


def test_output_is_plain_when_not_a_terminal(make_client: Callable[..., Client]) -> None:
    # Even when the environment asks for colours and a narrow terminal.
    client = make_client(env={"FORCE_COLOR": "1", "COLUMNS": "20", "TERM": "xterm-256color"})
    long_group = "g" * 64
    client.ok(f"create_user dave {password_of('dave')}")
    client.ok(f"login dave {password_of('dave')}")
    client.ok(f"create_group {long_group}")
    out = client.ok("list_groups") + client.ok("help") + client.ok(f"list_members {long_group}")
    assert not [line for line in out if ANSI.search(line) or BOX_DRAWING.search(line)], out
    assert groups_view(client.ok("list_groups")) == {long_group: ("*", "dave", 1)}


def test_help_lists_every_command(start_client: Callable[..., Client]) -> None:
    out = start_client().ok("help")
    for usage, _ in COMMANDS.values():
        assert any(line.strip().startswith(usage + " ") for line in out), usage


def test_arguments_are_split_like_a_posix_shell(make_client: Callable[..., Client]) -> None:
    client = make_client()
    assert client.ok('echo "two  spaces"') == ["two  spaces"]
    assert client.ok("echo one\\ word") == ["one word"]
    assert client.ok("echo 'single quoted'") == ["single quoted"]
    assert client.ok("echo pa#ss # a comment") == ["pa#ss"]
    # A quoted id is one argument (refused for its space, not for the count).
    client.fails('create_user "carol smith" pw', r"user id must be 1-64 characters")
    client.ok('create_user erin "pass phrase with spaces"')
    client.fails("login erin pass phrase", r"usage: login <user_id> <password>")
    client.fails("login erin pass\\ phrase", r"wrong user id or password")
    client.ok("login erin pass\\ phrase\\ with\\ spaces")
    client.ok("logout")
    client.ok("create_user frank p#ss")  # '#' inside a word is not a comment
    client.fails("login frank p", r"wrong user id or password")
    client.ok("login frank p#ss")


def test_unknown_command(start_client: Callable[..., Client]) -> None:
    client = start_client()
    client.fails("frobnicate now", r"^error: unknown command 'frobnicate' \(type help")
    client.fails("LOGIN a b", r"unknown command 'LOGIN'")


@pytest.mark.parametrize("option", ["--tracker-timeout", "--no-peer-timeout"])
def test_timeouts_must_be_positive(start_client: Callable[..., Client], option: str) -> None:
    for value in ("0", "-1", "nan"):
        client = start_client(f"{option}={value}")
        assert client.wait(timeout=20) == 2
        assert client.lines == [f"error: {option} must be a positive number of seconds"]
