"""The tracker as a process: stopping it, its tracker_info.txt, restarting it."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from minitorrent.driver import Client, Process, Tracker, free_port, minitorrent, password_of

from .helpers import groups_view, members_view


def assert_stopped_cleanly(tracker: Tracker, code: int, db: Path) -> None:
    assert code == 0, tracker.lines
    assert not any("Traceback" in line or "error" in line.lower() for line in tracker.lines), (
        tracker.lines
    )
    # SQLite removes the write-ahead log when the last connection closes cleanly.
    assert not Path(f"{db}-wal").exists(), "the database was not closed"


def test_quit_on_stdin_stops_it(tracker: Tracker, tracker_db: Path) -> None:
    assert_stopped_cleanly(tracker, tracker.quit(timeout=15), tracker_db)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_it(
    make_client: Callable[..., Client], tracker: Tracker, tracker_db: Path, sig: int
) -> None:
    make_client().ok("create_user alice pw")  # the database has been written to
    tracker.signal(sig)
    assert_stopped_cleanly(tracker, tracker.wait(timeout=15), tracker_db)


def test_end_of_stdin_does_not_stop_it(
    tracker: Tracker, start_client: Callable[..., Client]
) -> None:
    tracker.send("hello")
    tracker.wait_for_line(r"the only command is 'quit'", timeout=10)
    tracker.close_stdin()
    client = start_client()
    client.ok(f"create_user alice {password_of('alice')}")
    client.ok(f"login alice {password_of('alice')}")
    assert tracker.popen.poll() is None


def write_info(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


LAYOUTS = {
    # tracker 1 is down, tracker 2 runs; comments and blank lines anywhere
    "alternate lines": "# our trackers\n\n127.0.0.1\n{down}\n   \n127.0.0.1 # 2:\n\n{up}\n",
    "IP:PORT": "# our trackers\n127.0.0.1:{down}\n\n  127.0.0.1:{up}  # runs\n",
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_tracker_info_layouts_and_failover(
    tmp_path: Path,
    start_tracker: Callable[..., Tracker],
    start_client: Callable[..., Client],
    layout: str,
) -> None:
    down, up = free_port(), free_port()
    text = LAYOUTS[layout].format(down=down, up=up)
    info = write_info(tmp_path / "info.txt", text)
    tracker = start_tracker(info=info, number=2)
    [listening] = [line for line in tracker.lines if " listening on " in line]
    assert f"127.0.0.1:{up}" in listening  # after a warning: it is on SQLite, not alone
    client = start_client(info=info)  # talks to the first tracker that answers
    client.ok(f"create_user alice {password_of('alice')}")
    client.ok(f"login alice {password_of('alice')}")
    assert client.ok("list_groups") == ["no groups"]


MALFORMED = {
    "not an address": ("# trackers\n127.0.0.1\n5353\n\nhello world\n", r"line 5"),
    "bad port": ("127.0.0.1:99999\n", r"line 1: '99999' is not a port number"),
    "host without port": (
        "127.0.0.1:5353\n# next\n127.0.0.1\n",
        r"line 3: '127.0.0.1' has no port",
    ),
    "port alone": ("\n5353\n", r"line 2"),
    "empty": ("# nothing\n\n", r"no trackers listed"),
}


@pytest.mark.parametrize("role", ["tracker", "client"])
def test_malformed_tracker_info_names_the_line(tmp_path: Path, role: str) -> None:
    procs = {}
    for case, (text, _) in MALFORMED.items():
        info = write_info(tmp_path / f"{case}.txt", text)
        args = (
            ["tracker", str(info), "1", "--db", f"sqlite:///{tmp_path / 'unused.db'}"]
            if role == "tracker"
            else ["client", f"127.0.0.1:{free_port()}", str(info)]
        )
        procs[case] = Process(minitorrent(*args))
    for case, proc in procs.items():
        assert proc.wait(timeout=20) == 2, (case, proc.lines)
        assert len(proc.lines) == 1, (case, proc.lines)
        assert proc.lines[0].startswith("error: "), (case, proc.lines)
        assert f"{case}.txt" in proc.lines[0], proc.lines
        pattern = MALFORMED[case][1]
        assert re.search(pattern, proc.lines[0]), (case, proc.lines)


def test_tracker_number_out_of_range(tmp_path: Path) -> None:
    info = write_info(tmp_path / "info.txt", f"127.0.0.1:{free_port()}\n127.0.0.1:{free_port()}\n")
    db = f"sqlite:///{tmp_path / 'unused.db'}"
    procs = [Process(minitorrent("tracker", str(info), n, "--db", db)) for n in ("3", "0", "x")]
    for proc in procs:
        assert proc.wait(timeout=20) == 2
        assert len(proc.lines) == 1 and proc.lines[0].startswith("error: "), proc.lines
        assert "tracker number must be between 1 and 2" in proc.lines[0]
    assert not (tmp_path / "unused.db").exists()


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"MINITORRENT_TRACKER_PASSWORD_TIME_COST": "0"}, "PASSWORD_TIME_COST: Input should be"),
        ({"MINITORRENT_TRACKER_ANNOUNCE_INTERVAL": "soon"}, "ANNOUNCE_INTERVAL: Input should be"),
        (
            {"MINITORRENT_TRACKER_PASSWORD_MEMORY_KIB": "8"},  # argon2 needs 8 KiB per lane
            r"password_memory_kib must be at least 8 x password_parallelism \(32\)",
        ),
    ],
)
def test_bad_settings_are_one_error_line(tmp_path: Path, env: dict[str, str], why: str) -> None:
    info = write_info(tmp_path / "info.txt", f"127.0.0.1:{free_port()}\n")
    db = f"sqlite:///{tmp_path / 'unused.db'}"
    proc = Process(minitorrent("tracker", str(info), "1", "--db", db), env=env)
    assert proc.wait(timeout=20) == 1
    assert len(proc.lines) == 1, proc.lines
    assert proc.lines[0].startswith("error: bad tracker settings: "), proc.lines
    assert re.search(why, proc.lines[0]), proc.lines


def test_restart_keeps_everything(
    tracker: Tracker,
    tracker_db: Path,
    start_tracker: Callable[..., Tracker],
    make_client: Callable[..., Client],
    make_users: Callable[..., list[Client]],
) -> None:
    alice, bob, carol = make_users("alice", "bob", "carol", group=None)
    alice.ok("create_group lab")
    bob.ok("join_group lab")
    alice.ok("accept_request lab bob")
    carol.ok("join_group lab")  # still pending at the restart

    assert_stopped_cleanly(tracker, tracker.quit(timeout=15), tracker_db)
    alice.fails("list_groups", r"^error: no tracker answered .*connection refused")
    start_tracker()

    # Clients logged in before the restart go on: their sessions are in the database.
    assert members_view(alice.ok("list_members lab")) == {"alice": "admin", "bob": ""}
    assert alice.ok("list_requests lab")[1].split()[0] == "carol"
    assert groups_view(carol.ok("list_groups"))["lab"] == ("?", "alice", 2)
    bob.ok("leave_group lab")
    # Accounts too: a new client logs in with the same password.
    newcomer = make_client()
    newcomer.ok(f"login bob {password_of('bob')}")
    assert groups_view(newcomer.ok("list_groups"))["lab"] == ("", "alice", 1)
    newcomer.fails(f"create_user carol {password_of('carol')}", r"already exists")
    assert alice.quit() == 1  # its list_groups failed while the tracker was down
    assert bob.quit() == 0
