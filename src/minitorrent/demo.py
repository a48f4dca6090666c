"""`make demo`: a tracker and three clients on loopback, in a temporary directory.

It walks through the account and group commands, shares a file from two
clients, downloads it with a third (with a progress bar) and checks its SHA1.
Everything lives in a fresh temporary directory, so it can run again and again.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn

from minitorrent.driver import Client, Tracker, free_port

console = Console(highlight=False, soft_wrap=True)
FILE_SIZE = 48 * 1024 * 1024


def step(client: Client, who: str, command: str) -> list[str]:
    console.print(f"[bold cyan]{who}>[/] {escape(command)}")
    out = client.run(command)
    for line in out:
        style = "red" if line.startswith("error:") else "green"
        console.print(f"    [{style}]{escape(line)}[/]")
    return out


def expect_ok(client: Client, who: str, command: str) -> list[str]:
    out = step(client, who, command)
    if any(line.startswith("error:") for line in out):
        raise SystemExit(f"demo failed: {command!r} was refused")
    return out


def expect_refusal(client: Client, who: str, command: str) -> None:
    out = step(client, who, command)
    if not any(line.startswith("error:") for line in out):
        raise SystemExit(f"demo failed: {command!r} should have been refused")


def download_with_progress(client: Client, who: str, group: str, name: str) -> None:
    with Progress(
        TextColumn("    {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[line]}"),
        console=console,
    ) as progress:
        task = progress.add_task(f"{who} downloading {name}", total=100.0, line="")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lines = [line for line in client.run("show_downloads") if f"[{group}] {name}" in line]
            line = lines[-1] if lines else ""
            if line.startswith("[C]"):
                progress.update(task, completed=100.0, line=escape(line))
                return
            if line.startswith("[F]"):
                raise SystemExit(f"demo failed: {line}")
            match = re.search(r"(\d+(?:\.\d+)?)%", line)
            done = float(match.group(1)) if match else 0.0
            progress.update(task, completed=done, line=escape(line))
            time.sleep(0.2)  # refresh rate of the progress bar
    raise SystemExit("demo failed: the download did not finish in 120 s")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="minitorrent-demo-") as tmp:
        root = Path(tmp)
        info = root / "tracker_info.txt"
        info.write_text(f"127.0.0.1\n{free_port()}\n")
        console.print(f"[bold]minitorrent demo[/] in {root}")
        console.print(f"tracker_info.txt lists one tracker: {info.read_text().split()}")
        tracker = Tracker(info, 1, f"sqlite:///{root / 'tracker.db'}")
        console.print(f"[bold]tracker[/]: {tracker.lines[-1]}")
        clients = {
            name: Client(info, root / "state" / name, "--announce-interval", "5")
            for name in ("alice", "bob", "carol")
        }
        try:
            return run_story(root, clients)
        finally:
            for client in clients.values():
                client.stop()
            tracker.stop()


def run_story(root: Path, clients: dict[str, Client]) -> int:
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    console.rule("accounts")
    for name, client in clients.items():
        console.print(f"[dim]{name}'s client serves peers on {client.host}:{client.port}[/]")
        expect_ok(client, name, f"create_user {name} secret-{name}")
        expect_ok(client, name, f"login {name} secret-{name}")
    expect_refusal(bob, "bob", "create_user alice again")
    console.rule("groups")
    expect_ok(alice, "alice", "create_group lab")
    expect_ok(bob, "bob", "join_group lab")
    expect_ok(carol, "carol", "join_group lab")
    expect_refusal(bob, "bob", "list_requests lab")
    expect_ok(alice, "alice", "list_requests lab")
    expect_ok(alice, "alice", "accept_request lab bob")
    expect_ok(alice, "alice", "accept_request lab carol")
    expect_ok(carol, "carol", "list_groups")
    expect_ok(carol, "carol", "list_members lab")

    console.rule("file sharing")
    data_file = root / "shared" / "field data.bin"
    data_file.parent.mkdir()
    data_file.write_bytes(os.urandom(FILE_SIZE))
    digest = hashlib.sha1(data_file.read_bytes()).hexdigest()
    console.print(
        f"[dim]made {data_file} ({FILE_SIZE >> 20} MiB of random bytes), sha1 {digest}[/]"
    )
    expect_ok(alice, "alice", f'upload_file "{data_file}" lab')
    expect_ok(bob, "bob", f'upload_file "{data_file}" lab')
    expect_ok(carol, "carol", "list_files lab")
    downloads = root / "downloads"
    downloads.mkdir()
    expect_ok(carol, "carol", f'download_file lab "field data.bin" {downloads}')
    download_with_progress(carol, "carol", "lab", "field data.bin")
    result = downloads / "field data.bin"
    got = hashlib.sha1(result.read_bytes()).hexdigest()
    console.print(f"    sha1 of {result}: {got}")
    if got != digest:
        raise SystemExit("demo failed: the downloaded file differs")
    console.print("    [bold green]byte-identical[/]")
    expect_ok(carol, "carol", 'verify lab "field data.bin"')
    expect_ok(carol, "carol", "peers")
    expect_ok(carol, "carol", "list_files lab")
    console.rule("leaving")
    expect_ok(alice, "alice", "leave_group lab")
    expect_ok(bob, "bob", "list_groups")
    for name, client in clients.items():
        expect_ok(client, name, "logout")
        client.quit()
    console.print("[bold green]demo complete[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
