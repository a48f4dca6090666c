"""The shell on a terminal, driven with real key presses through a pseudo-terminal:
Ctrl-C, Tab, the up arrow, hidden passwords, the live toolbar and [C]/[F] lines, and
quitting. Real tracker and client processes; the screen is read as a terminal shows it."""

from __future__ import annotations

import os
import re
import signal
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minitorrent.driver import Client, Tracker, password_of, wait_until

from .terminal import Terminal, client_args


@pytest.fixture
def terminal(
    tracker: Tracker, tracker_info: Path, tmp_path: Path
) -> Iterator[Callable[..., Terminal]]:
    """``terminal("alice", *options)``: a client on a pseudo-terminal, at its first prompt;
    its state directory is tmp_path/state/alice."""
    started: list[Terminal] = []

    def start(name: str, *extra: str, cwd: Path | None = None) -> Terminal:
        term = Terminal(client_args(tracker_info, tmp_path / "state" / name, *extra), cwd=cwd)
        started.append(term)
        term.wait_for_prompt()
        return term

    yield start
    for term in started:
        term.close()


def signed_up(term: Terminal, user: str) -> Terminal:
    term.run(f"create_user {user} {password_of(user)}")
    assert f"logged in as '{user}'" in term.run(f"login {user} {password_of(user)}")
    return term


def script_user(make_client: Callable[..., Client], user: str) -> Client:
    client = make_client(state=user)
    client.ok(f"create_user {user} {password_of(user)}")
    client.ok(f"login {user} {password_of(user)}")
    return client


def test_ctrl_c_at_the_prompt_clears_the_line_and_the_client_goes_on(
    terminal: Callable[..., Terminal],
) -> None:
    alice = signed_up(terminal("alice"), "alice")
    alice.type("create_group half-typed")
    alice.wait_for_prompt("create_group half-typed")
    alice.press("ctrl-c")
    alice.wait_for_prompt()  # a fresh, empty line
    # The half-typed line did not run, and alice is still logged in.
    assert alice.run("list_groups") == "no groups"
    assert alice.child.isalive()


def _bob_downloads_a_file_nobody_shares(
    terminal: Callable[..., Terminal],
    make_client: Callable[..., Client],
    tmp_path: Path,
    *bob_options: str,
) -> tuple[Client, Terminal, bytes]:
    """alice shares notes.bin in lab and logs out; bob (on a terminal) starts its download."""
    data = os.urandom(300_000)
    (tmp_path / "notes.bin").write_bytes(data)
    alice = script_user(make_client, "alice")
    alice.ok("create_group lab")
    bob = signed_up(terminal("bob", *bob_options), "bob")
    bob.run("join_group lab")
    alice.ok("accept_request lab bob")
    alice.ok(f"upload_file {tmp_path / 'notes.bin'} lab")
    alice.ok("logout")
    (tmp_path / "in").mkdir()
    bob.run(f"download_file lab notes.bin {tmp_path / 'in'}")
    return alice, bob, data


Waiting = tuple[Client, Terminal, bytes]


@pytest.fixture
def waiting(
    terminal: Callable[..., Terminal], make_client: Callable[..., Client], tmp_path: Path
) -> Waiting:
    """bob's download of notes.bin, waiting for alice to share it again."""
    return _bob_downloads_a_file_nobody_shares(
        terminal, make_client, tmp_path, "--no-peer-timeout", "600"
    )


def _wait_in_the_foreground(term: Terminal) -> None:
    term.line("wait")
    term.wait_for(r"^waiting for the downloads to end; Ctrl-C stops waiting \(they go on\)$")


def test_ctrl_c_stops_wait_and_the_download_goes_on(waiting: Waiting) -> None:
    _, bob, _ = waiting
    _wait_in_the_foreground(bob)
    bob.press("ctrl-c")
    bob.wait_for(r"^stopped waiting; the downloads go on$")
    bob.wait_for_prompt()
    assert bob.run("show_downloads").startswith("[D] [lab] notes.bin 0.0%")
    # At once, before the status shows: the terminal sends SIGINT then.
    bob.line("wait")
    bob.press("ctrl-c")
    bob.wait_for(r"^minitorrent> wait\nstopped waiting; the downloads go on\nminitorrent>$")
    assert bob.child.isalive()


def test_toolbar_shows_the_download_and_a_line_above_the_prompt_says_it_completed(
    waiting: Waiting, tmp_path: Path
) -> None:
    alice, bob, data = waiting
    # The toolbar, below the prompt, while the download waits for a peer.
    bob.wait_for(r"^\[D\] \[lab\] notes\.bin 0\.0% 0 B/s 0 peers$")
    bob.type("show_d")  # half-typed when the download completes
    alice.ok(f"login alice {password_of('alice')}")  # shares notes.bin again
    done = bob.wait_for(r"^\[C\] \[lab\] notes\.bin 293\.0 KiB in \d+\.\d s$")
    bob.wait_for_prompt("show_d")  # redrawn intact below the line, what was typed kept
    screen = bob.text()
    print(screen)  # pytest -s shows what the person sees
    rows = screen.splitlines()
    assert rows.index(done.group(0)) == bob.screen.cursor.y - 1
    assert not any(row.startswith("[D]") for row in rows[bob.screen.cursor.y :])  # toolbar gone
    assert (tmp_path / "in" / "notes.bin").read_bytes() == data


def test_what_is_typed_while_a_command_runs_waits_for_the_next_prompt(
    waiting: Waiting,
) -> None:
    alice, bob, _ = waiting
    _wait_in_the_foreground(bob)
    bob.line("echo typed-ahead")  # while wait runs
    alice.ok(f"login alice {password_of('alice')}")  # shares notes.bin again
    bob.wait_for(
        r"^minitorrent> wait\n\[C\] \[lab\] notes\.bin .*\n1 download\(s\) complete\n"
        r"minitorrent> echo typed-ahead\ntyped-ahead\nminitorrent>$"
    )


def test_a_failed_download_is_one_line_above_the_prompt(
    terminal: Callable[..., Terminal], make_client: Callable[..., Client], tmp_path: Path
) -> None:
    _, bob, _ = _bob_downloads_a_file_nobody_shares(
        terminal, make_client, tmp_path, "--no-peer-timeout", "1"
    )
    bob.type("list_f")
    bob.wait_for(r"^\[F\] \[lab\] notes\.bin: no peer has the missing pieces")
    bob.wait_for_prompt("list_f")
    assert "notice:" not in bob.text()  # one line, not the script's notice too


def test_tab_completes_commands_groups_files_users_and_paths(
    terminal: Callable[..., Terminal], make_client: Callable[..., Client], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("notes\n")
    (tmp_path / "downloads").mkdir()
    alice = signed_up(terminal("alice", cwd=tmp_path), "alice")
    alice.run("create_group lab")
    alice.run("create_group zoo")
    bob = script_user(make_client, "bob")
    bob.ok("join_group lab")

    def completes(typed: str, expected: str) -> None:
        alice.type(typed)
        alice.press("tab")
        alice.wait_for_prompt(expected)
        alice.press("ctrl-u")

    completes("list_gr", "list_groups")
    completes("list_members l", "list_members lab")  # zoo does not start with l
    completes("accept_request lab ", "accept_request lab bob")  # a pending request
    alice.run("accept_request lab bob")
    completes("remove_member lab b", "remove_member lab bob")  # a member
    completes("upload_file no", "upload_file notes.txt")  # relative to where it runs
    completes(f"upload_file {tmp_path}/no", f"upload_file {tmp_path}/notes.txt")
    alice.run("upload_file notes.txt lab")
    completes("download_file lab n", "download_file lab notes.txt")
    completes("list_files lab --l", "list_files lab --long")
    completes("list_files lab n", "list_files lab notes.txt")
    completes("verify lab n", "verify lab notes.txt")
    completes("download_file lab notes.txt dow", "download_file lab notes.txt downloads/")
    completes(
        "download_file lab notes.txt downloads/ --o",
        "download_file lab notes.txt downloads/ --only",
    )
    completes("export_torrent lab notes.txt downloads/", "export_torrent lab notes.txt downloads/")
    completes("help remove_m", "help remove_member")


def test_typing_goes_on_while_the_tracker_does_not_answer(
    terminal: Callable[..., Terminal], tracker: Tracker, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("notes\n")
    alice = signed_up(terminal("alice", "--tracker-timeout", "30", cwd=tmp_path), "alice")
    alice.run("create_group lab")
    alice.run("upload_file notes.txt lab")
    tracker.signal(signal.SIGSTOP)
    try:
        alice.type("download_file lab ")
        alice.press("tab")  # asks the tracker for the files of lab; no answer comes
        alice.type("no")
        alice.wait_for_prompt("download_file lab no", timeout=5)  # typing was not held up
    finally:
        tracker.signal(signal.SIGCONT)
    alice.press("tab")
    alice.wait_for_prompt("download_file lab notes.txt")


def test_passwords_are_asked_without_echo_and_never_kept_in_the_history(
    terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    state = tmp_path / "state" / "alice"
    state.mkdir(parents=True, mode=0o755)
    state.chmod(0o755)
    # A history from before this rule, readable by all, with a password in it.
    (state / "history").write_text("\n# then\n+login alice old-secret\n\n# then\n+list_groups\n")
    (state / "history").chmod(0o644)
    secret = password_of("alice")
    alice = terminal("alice")
    alice.line("create_user alice")
    alice.wait_for(r"^password:$")
    alice.line(secret)
    alice.wait_for(r"^password again:$")
    alice.line(secret)
    alice.wait_for(r"^user 'alice' created$")
    alice.line("create_user carol")
    alice.wait_for(r"^password:")
    alice.line("carol-first-try")
    alice.wait_for(r"^password again:$")
    alice.line("carol-second-try")
    alice.wait_for(r"^error: the passwords differ; nothing done$")
    alice.line("login alice")
    alice.wait_for(r"^password:")
    alice.line(secret)
    alice.wait_for(r"^logged in as 'alice'$")
    alice.run("logout")
    alice.run(f"login alice {secret}")  # typed in full
    alice.run("echo first")
    alice.press("up")
    alice.wait_for_prompt("echo first")
    alice.press("up")
    alice.wait_for_prompt("logout")  # the line with the password is not recalled
    alice.press("enter")
    alice.wait_for_prompt()
    screen = alice.text()
    assert secret not in screen.replace(f"login alice {secret}", "")  # only where typed in full
    asked = [row for row in screen.splitlines() if row.startswith("password")]
    assert set(asked) == {"password:", "password again:"}  # not even its length shows
    assert b"carol-" not in b"".join(alice.log)  # not even the raw output held them
    alice.line("quit")
    assert alice.exit_status() == 1  # as in a script: a command failed (the passwords differed)
    history = (state / "history").read_text()
    assert "echo first" in history and "list_groups" in history
    assert "login alice\n" in history and "create_user alice\n" in history
    assert secret not in history and "old-secret" not in history
    assert stat.S_IMODE((state / "history").stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_an_older_history_loses_its_passwords_at_start(
    terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    state = tmp_path / "state" / "alice"
    state.mkdir(parents=True)
    history = state / "history"
    history.write_text("\n# then\n+create_user alice pa55\n\n# then\n+list_groups\n")
    terminal("alice")
    wait_until(lambda: "pa55" not in history.read_text(), 10, "the history rewritten")
    assert "+list_groups" in history.read_text()


def test_quit_while_sharing_asks_once(terminal: Callable[..., Terminal], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("notes\n")
    alice = signed_up(terminal("alice"), "alice")
    alice.run("create_group lab")
    alice.run(f"upload_file {tmp_path / 'notes.txt'} lab")
    alice.line("quit")
    alice.wait_for(
        r"^quitting logs 'alice' out and stops sharing 1 file \(notes\.txt; shared again at "
        r"your next login\)\.\nquit anyway\? \[y/N\]$"
    )
    alice.press("enter")  # no
    alice.wait_for_prompt()
    assert re.search(r"│ sharing +│", alice.run("list_shares"))  # still logged in, sharing
    alice.press("ctrl-d")
    alice.wait_for(r"^quit anyway\? \[y/N\]$")
    alice.line("y")
    assert alice.exit_status() == 0


def test_a_long_hash_shows_its_progress_and_ctrl_c_cancels_it(
    terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(16 << 30)  # sparse: hashing it takes a while, the disk holds nothing
    alice = signed_up(terminal("alice"), "alice")
    alice.run("create_group lab")
    alice.line(f"upload_file {big} lab")
    alice.wait_for(r"^hashing big\.bin \d+\.\d% \([\d.]+ (?:[KMG]i)?B of 16\.0 GiB\)$")
    alice.wait_for(r"^upload_file running; Ctrl-C cancels it$")
    alice.press("ctrl-c")
    alice.wait_for(r"^upload_file cancelled$")
    alice.wait_for_prompt()
    assert alice.run("list_files lab") == "no files shared"
