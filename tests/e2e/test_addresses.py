"""Host names wherever an address is: tracker_info.txt, the client's own address and
--advertise (`localhost` as people type it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from minitorrent.driver import Client, Tracker, free_port, password_of

from .sharing_helpers import MiB, quote, write_random

StartClient = Callable[..., Client]


def test_localhost_everywhere(
    start_tracker: Callable[..., Tracker], start_client: StartClient, tmp_path: Path
) -> None:
    info = tmp_path / "localhost_tracker.txt"
    info.write_text(f"localhost:{free_port()}\n")
    start_tracker(info=info)
    seeder_port = free_port()
    ann = start_client(
        "--advertise", f"localhost:{seeder_port}", info=info, host="localhost", port=seeder_port
    )
    bob = start_client(info=info, host="localhost")
    for name, client in (("ann", ann), ("bob", bob)):
        client.ok(f"create_user {name} {password_of(name)}")
        client.ok(f"login {name} {password_of(name)}")
    [me] = [line for line in ann.ok("peers") if line.startswith("this client: ")]
    assert me.endswith(f" on 127.0.0.1:{seeder_port}")  # resolved once, at start
    ann.ok("create_group lab")
    bob.ok("join_group lab")
    ann.ok("accept_request lab bob")
    src = tmp_path / "ann" / "hello.bin"
    data = write_random(src, MiB, seed=5)
    ann.ok(f"upload_file {quote(src)} lab")
    dest = tmp_path / "bob"
    dest.mkdir()
    bob.ok(f"download_file lab hello.bin {quote(dest)}")
    assert bob.ok("wait", timeout=60) == ["1 download(s) complete"]
    assert (dest / "hello.bin").read_bytes() == data


def test_a_host_name_that_does_not_resolve_is_one_error_line(
    start_client: StartClient,
) -> None:
    bad = "no-such-host.invalid"  # .invalid never resolves (RFC 6761)
    client = start_client(host=bad, port=free_port())
    assert client.wait(timeout=30) == 2
    [line] = client.lines
    assert line.startswith(f"error: address '{bad}:{client.port}': cannot resolve '{bad}': "), line
