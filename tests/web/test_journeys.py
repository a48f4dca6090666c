"""What members and admins do in the browser, with a real tracker, real shell clients
and a real BitTorrent client (libtorrent) on loopback."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx
from fastbencode import bdecode, bencode  # type: ignore[attr-defined]
from playwright.sync_api import Page, expect

from minitorrent.driver import Client, password_of
from tests.interop.ltclient import fetch

from .conftest import sign_up


def _shell(make_client: Callable[..., Client], user_id: str) -> Client:
    client = make_client(state=user_id)
    client.ok(f"login {user_id} {password_of(user_id)}")
    return client


def _log(page: Page) -> list[str]:
    """The group's activity log as the page shows it, oldest first."""
    page.get_by_role("link", name="Activity log").click()
    lines = page.locator("ul.log li bdi").all_inner_texts()
    page.go_back()
    return list(reversed(lines))


def _announce_with(torrent: Path) -> bytes:
    """What the tracker answers a BitTorrent client announcing with this .torrent."""
    meta = bdecode(torrent.read_bytes())
    query = urlencode(
        {
            "info_hash": hashlib.sha1(bencode(meta[b"info"])).digest(),
            "peer_id": b"-LT0000-" + b"x" * 12,
            "port": 6881,
            "uploaded": 0,
            "downloaded": 0,
            "left": 0,
            "compact": 1,
        }
    )
    return httpx.get(f"{meta[b'announce'].decode()}?{query}", timeout=10).content


def _file_row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("tr", has=page.get_by_role("rowheader", name=name))


def test_a_group_from_the_browser_to_a_bittorrent_client(
    new_page: Callable[..., Page],
    make_client: Callable[..., Client],
    screenshot: Callable[[Page, str], None],
    tmp_path: Path,
) -> None:
    # alice creates an account and a group in the browser.
    alice = new_page()
    sign_up(alice, "alice")
    alice.get_by_label("Group name").fill("lab")
    alice.get_by_role("button", name="Create group").click()
    expect(alice.get_by_role("heading", level=1)).to_have_text("Group lab you are admin")

    # bob, on a phone, asks to join.
    bob = new_page(phone=True)
    sign_up(bob, "bob")
    bob.get_by_role("button", name="Request to join lab").click()
    expect(bob.get_by_text("waiting for an answer")).to_be_visible()
    screenshot(bob, "my-groups-phone")

    # alice accepts.
    alice.reload()
    alice.get_by_role("button", name="Accept bob").click()
    expect(
        alice.locator("li", has_text="bob").get_by_role("button", name="Remove bob")
    ).to_be_visible()

    # bob shares a file from the shell; it is on the group page with bob as its seeder.
    data = tmp_path / "dataset.bin"
    data.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    bob_shell = _shell(make_client, "bob")
    bob_shell.ok(f"upload_file {data} lab")
    alice.reload()
    row = _file_row(alice, "dataset.bin")
    expect(row.locator('[data-count="seeders"]')).to_have_text("1")
    expect(row).to_contain_text("3.0 MiB")
    expect(row).to_contain_text("bob")

    # alice downloads it with her shell: the open page's counts follow, without a reload.
    alice_shell = _shell(make_client, "alice")
    alice_shell.ok(f"download_file lab dataset.bin {tmp_path / 'alice.bin'}")
    alice_shell.ok("wait", timeout=90)
    expect(row.locator('[data-count="completed"]')).to_have_text("1", timeout=30_000)
    expect(row.locator('[data-count="seeders"]')).to_have_text("2", timeout=30_000)
    screenshot(alice, "group-admin")

    # bob takes the .torrent from the page: the shell's export_torrent bytes.
    bob.goto("/group?id=lab")
    with bob.expect_download() as download:
        _file_row(bob, "dataset.bin").get_by_role("link", name=re.compile(r"\.torrent")).click()
    from_page = tmp_path / "from-page.torrent"
    download.value.save_as(from_page)
    from_shell = tmp_path / "from-shell.torrent"
    bob_shell.ok(f"export_torrent lab dataset.bin {from_shell}")
    assert from_page.read_bytes() == from_shell.read_bytes()
    screenshot(bob, "group-member-phone")

    # ... and the magnet link the copy button puts on the clipboard is the shell's.
    _file_row(bob, "dataset.bin").get_by_role("link", name=re.compile("Copy magnet")).click()
    expect(bob.get_by_role("status")).to_have_text("Magnet link copied.")
    (magnet,) = bob_shell.ok("magnet lab dataset.bin")
    assert bob.evaluate("navigator.clipboard.readText()") == magnet

    # A real BitTorrent client fetches the file with the page's .torrent.
    out = tmp_path / "lt"
    out.mkdir()
    fetch(from_page, out)
    assert (out / "dataset.bin").read_bytes() == data.read_bytes()

    # alice removes bob: his group page is a 403, his tracker announces are refused.
    alice.reload()
    alice.get_by_role("button", name="Remove bob").click()
    expect(alice.get_by_role("button", name="Remove bob")).to_have_count(0)
    answer = bob.goto("/group?id=lab")
    assert answer is not None and answer.status == 403
    expect(bob.get_by_role("alert")).to_have_text("not a member of 'lab'")
    bob_shell.fails("list_files lab", r"not a member of 'lab'")
    refusal = bdecode(_announce_with(from_page))
    # To anyone outside the group, its torrents look unknown (they do not exist for them).
    assert refusal == {b"failure reason": b"unknown torrent"}

    # The activity log has every step, in order.
    assert _log(alice) == [
        "alice created the group",
        "bob asked to join",
        "alice accepted bob",
        "bob shared dataset.bin",
        "alice removed bob",
    ]
    alice.get_by_role("link", name="Activity log").click()
    screenshot(alice, "activity-log")
