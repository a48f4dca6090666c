"""Accounts as a user sees them through the client: create_user, login, logout,
every refusal, and a tracker that is down or hung."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from minitorrent.driver import Client, Tracker, free_port, password_of, wait_until

from .helpers import COMMANDS, call, groups_view, members_view
from .silent_server import SilentServer

ID_64 = "u" * 64
ID_65 = "u" * 65
# The tracker refreshes a session's idle timer on every call, not every 10 s.
EVERY_USE_COUNTS = {"MINITORRENT_TRACKER_SESSION_TOUCH_INTERVAL": "0"}


def test_create_user_login_logout(make_client: Callable[..., Client]) -> None:
    client = make_client()
    assert client.ok("create_user alice s3cret") == ["user 'alice' created"]
    assert client.ok("login alice s3cret") == ["logged in as 'alice'"]
    assert client.ok("list_groups") == ["no groups"]
    assert client.ok("logout") == ["logged out 'alice'"]
    client.ok("login alice s3cret")  # the account is still there
    assert client.quit() == 0  # nothing failed


def test_account_refusals(make_client: Callable[..., Client]) -> None:
    client = make_client()
    client.ok("create_user alice s3cret")
    client.fails("create_user alice other", r"user 'alice' already exists")
    # The same answer for both: which ids exist is not for a password guesser to learn.
    client.fails("login alice wrong", r"^error: wrong user id or password$")
    client.fails("login nobody s3cret", r"^error: wrong user id or password$")
    client.fails("create_user bob ''", r"password must be 1-1024 characters")
    client.fails("logout", r"not logged in")
    client.ok("login alice s3cret")
    client.fails("login alice s3cret", r"already logged in as 'alice'")
    client.fails("create_user alice again", r"already exists")  # logged in or not
    client.ok("logout")
    client.fails("logout", r"not logged in")
    client.fails("list_groups", r"not logged in")
    assert client.quit() == 1  # some commands failed


def test_invalid_ids(make_client: Callable[..., Client]) -> None:
    client = make_client()
    assert client.ok(f"create_user {ID_64} pw") == [f"user '{ID_64}' created"]
    client.ok("create_user a_b.c-D9 pw")
    for bad in (ID_65, "bad/name", "'two words'", "semi;colon", "é", "''"):
        client.fails(f"create_user {bad} pw", r"user id must be 1-64 characters")
    client.fails(f"login {ID_65} pw", r"user id must be 1-64 characters")
    client.ok(f"login {ID_64} pw")
    assert client.ok(f"create_group {ID_64}") == [f"group '{ID_64}' created; you are its admin"]
    for bad in (ID_65, "a/b", "'x y'", "a?b", "g%1", "''"):
        client.fails(f"create_group {bad}", r"group id must be 1-64 characters")
    # Everywhere else too (never a confusing HTTP error such as "no such endpoint").
    for bad in (ID_65, "a/b", "a?b", "%2e", "x%2Fy", "a/../b"):
        for command in ("join_group", "leave_group", "list_members", "list_requests"):
            client.fails(f"{command} {bad}", r"group id must be 1-64 characters")
        client.fails(f"accept_request {ID_64} {bad}", r"user id must be 1-64 characters")
        client.fails(f"remove_member {ID_64} {bad}", r"user id must be 1-64 characters")


def test_new_ids_never_start_with_a_dot_dots_inside_are_plain(
    make_client: Callable[..., Client],
) -> None:
    """An id names a folder of the client's state: '.', '..' and hidden names are refused
    when created (tests/e2e/test_ids_in_paths.py: older ones still work); dots inside an
    id must not turn into URL path navigation either."""
    client = make_client()
    for bad in (".", "..", ".x"):
        client.fails(f"create_user {bad} pw", r"^error: user id must not start with '\.' or '-'$")
    client.ok("create_user a..b pw")
    client.ok("login a..b pw")
    for group in (".", ".."):
        client.fails(f"create_group {group}", r"^error: group id must not start with '\.' or '-'$")
    for group in ("x..", "_.."):
        client.ok(f"create_group {group}")
        assert members_view(client.ok(f"list_members {group}")) == {"a..b": "admin"}
        client.fails(f"join_group {group}", rf"already a member of '{re.escape(group)}'")
    client.ok("leave_group _..")
    client.fails("list_members _..", r"no such group '_\.\.'")
    assert list(groups_view(client.ok("list_groups"))) == ["x.."]


def test_wrong_argument_count_names_the_usage(start_client: Callable[..., Client]) -> None:
    client = start_client()  # no tracker needed
    for usage, _ in COMMANDS.values():
        wrong = [call(usage, +1)] + ([call(usage, -1)] if " <" in usage else [])
        for line in wrong:
            client.fails(line, rf"wrong number of arguments; usage: {re.escape(usage)}$")
    # `quit now` was refused, so the client is still running:
    assert client.popen.poll() is None
    assert client.ok("echo alive") == ["alive"]


def test_not_logged_in(start_client: Callable[..., Client]) -> None:
    client = start_client()  # the client knows without asking a tracker
    for usage, needs_login in COMMANDS.values():
        if needs_login:
            client.fails(call(usage), r"^error: not logged in \(use: login <user_id> <password>\)")


def test_same_user_in_two_processes(
    make_client: Callable[..., Client], live_sessions: Callable[[str], int]
) -> None:
    first, second = make_client(), make_client()
    first.ok(f"create_user alice {password_of('alice')}")
    first.ok(f"login alice {password_of('alice')}")
    second.ok(f"login alice {password_of('alice')}")  # another process: not "already logged in"
    assert live_sessions("alice") == 2
    first.ok("create_group lab")
    assert any(line.split()[:3] == ["*", "lab", "alice"] for line in second.ok("list_groups"))
    second.fails(f"login alice {password_of('alice')}", r"already logged in as 'alice'")
    first.ok("logout")  # revokes the first process's session only
    assert live_sessions("alice") == 1
    second.ok("list_members lab")
    assert second.quit() == 1  # its refused login counts as a failure
    assert live_sessions("alice") == 0


def test_users_are_shared_between_clients(make_users: Callable[..., list[Client]]) -> None:
    alice, bob = make_users("alice", "bob", group=None)
    alice.ok("create_group lab")
    bob.ok("join_group lab")
    assert alice.ok("list_requests lab")[1].split()[0] == "bob"


def test_tracker_unreachable(start_client: Callable[..., Client], tmp_path: Path) -> None:
    info = tmp_path / "closed.txt"
    info.write_text(f"127.0.0.1:{free_port()}\n")  # nobody listens there
    client = start_client(info=info)
    for command in ("create_user alice pw", "login alice pw"):
        started = time.monotonic()
        client.fails(command, r"no tracker answered .*connection refused")
        elapsed = time.monotonic() - started
        assert elapsed < 3, f"{command!r} took {elapsed:.1f} s to report the tracker down"
    assert client.script([]) == 1


def test_hung_tracker_gives_an_error_not_a_frozen_shell(
    start_client: Callable[..., Client], tmp_path: Path, report: Callable[[str], None]
) -> None:
    with SilentServer() as hung:
        info = tmp_path / "hung.txt"
        info.write_text(f"{hung.host}\n{hung.port}\n")
        client = start_client("--tracker-timeout", "1", info=info)
        started = time.monotonic()
        client.fails("login alice pw", r"no tracker answered .*timed out", timeout=15)
        elapsed = time.monotonic() - started
        report(f"hung tracker: error after {elapsed:.2f} s with --tracker-timeout 1")
        assert hung.accepted >= 1
        assert 0.9 <= elapsed < 6
        assert client.ok("echo 'still responsive'") == ["still responsive"]
        assert client.script([], timeout=15) == 1


def test_a_running_client_keeps_its_session_alive(
    start_tracker: Callable[..., Tracker], start_client: Callable[..., Client]
) -> None:
    ttl = 2  # sessions expire after 2 s unused
    start_tracker(env={"MINITORRENT_TRACKER_SESSION_IDLE_TTL": str(ttl)} | EVERY_USE_COUNTS)
    client = start_client()
    client.ok(f"create_user alice {password_of('alice')}")
    client.ok(f"login alice {password_of('alice')}")
    logged_in_at = time.monotonic()
    wait_until(lambda: time.monotonic() - logged_in_at > 2 * ttl, 10, "twice the idle time")
    client.ok("list_groups")  # no command for twice the idle time, and still logged in


def test_a_session_ended_by_the_tracker_gives_a_clear_message(
    make_client: Callable[..., Client], tracker_db: Path, live_sessions: Callable[[str], int]
) -> None:
    client = make_client()
    client.ok(f"create_user alice {password_of('alice')}")
    client.ok(f"login alice {password_of('alice')}")
    with closing(sqlite3.connect(tracker_db)) as db, db:
        db.execute("DELETE FROM sessions")  # as when it expires
    client.fails("list_groups", r"the tracker ended your session .*; log in again")
    client.fails("list_groups", r"^error: not logged in \(use: login")
    client.ok(f"login alice {password_of('alice')}")  # not "already logged in"
    assert live_sessions("alice") == 1
    with closing(sqlite3.connect(tracker_db)) as db, db:
        db.execute("DELETE FROM sessions")
    assert client.ok("logout") == ["logged out 'alice'"]  # nothing left to revoke
