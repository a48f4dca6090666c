"""The group page of a big group: its files a hundred at a time, by keyboard, and kept in
the tracker's memory only as long as it is true and only for the group's members."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from minitorrent.driver import Client, password_of

from .conftest import csrf_of
from .test_keyboard import _tab_to
from .test_web_security import HOSTILE, _api, _share

Web = Callable[..., httpx.Client]
NAME = re.compile(r'<th scope="row" class="name"><bdi>([^<]*)</bdi>')
MEMBER = re.compile(  # not the requests': theirs say "asked"
    r'<span><bdi>([^<]*)</bdi>(?: <span class="badge">admin</span>)?\s*'
    r'<span class="hint">since'
)


def _names(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return NAME.findall(page.text)


def _members(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return MEMBER.findall(page.text)


def _group_with_files(web_user: Web, base_url: str, names: list[str]) -> httpx.Client:
    """ann's web session; her group `lab` has these files, shared through the JSON API."""
    ann = web_user("ann")
    ann.post("/groups/create", data={"csrf": csrf_of(ann.get("/groups").text), "group_id": "lab"})
    api = _api(base_url, "ann")
    for name in names:
        _share(api, "lab", name)
    return ann


def _sign_in(page: Page, user_id: str) -> None:
    page.goto("/login")
    page.get_by_label("User name").first.fill(user_id)
    page.get_by_label("Password").first.fill(password_of(user_id))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/groups")


def test_the_files_come_a_hundred_a_page_and_the_next_is_a_keypress_away(
    web_user: Web, base_url: str, new_page: Callable[..., Page]
) -> None:
    names = [f"f{n:03}" for n in range(150)]
    _group_with_files(web_user, base_url, names)
    page = new_page()
    _sign_in(page, "ann")
    page.goto("/group?id=lab")
    rows = page.locator("th.name")
    expect(rows).to_have_count(100)
    assert rows.all_inner_texts() == names[:100]
    pager = page.get_by_role("navigation", name="Pages of files (above the list)")
    expect(pager).to_contain_text("Files 1 to 100 of 150, page 1 of 2")
    expect(pager.get_by_role("link", name="Previous page of files")).to_have_count(0)

    _tab_to(page, "a[rel=next]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/group?id=lab&page=2")
    expect(rows).to_have_count(50)
    assert rows.all_inner_texts() == names[100:]
    expect(pager).to_contain_text("Files 101 to 150 of 150, page 2 of 2")
    expect(pager.get_by_role("link", name="Next page of files")).to_have_count(0)

    _tab_to(page, "a[rel=prev]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/group?id=lab&page=1")
    assert rows.all_inner_texts() == names[:100]
    # A page past the last (files withdrawn since the link was made) shows the last.
    page.goto("/group?id=lab&page=7")
    assert rows.all_inner_texts() == names[100:]


def test_hostile_names_are_text_on_every_page(web_user: Web, base_url: str) -> None:
    # Quoted and bracketed names sort before the f-names, right-to-left ones after.
    ann = _group_with_files(web_user, base_url, [*HOSTILE, *(f"f{n:03}" for n in range(100))])
    first, second = ann.get("/group?id=lab").text, ann.get("/group?id=lab&page=2").text
    assert "<img src=x" not in first and "&lt;img src=x onerror=alert(1)&gt;" in first
    assert '"onmouseover' not in first and "&#34;onmouseover=alert(1) x=&#34;" in first
    assert "<bdi>\u05e9\u05dc\u05d5\u05dd.txt</bdi>" in second
    assert "<img" not in second and "onmouseover" not in second


def test_the_page_shows_shares_withdrawals_and_removals_at_once(
    make_users: Callable[..., list[Client]], web_user: Web, base_url: str, tmp_path: Path
) -> None:
    _, bob_shell = make_users("ann", "bob", group="lab")
    ann, bob = web_user("ann", create=False), web_user("bob", create=False)
    assert _names(ann.get("/group?id=lab")) == []  # the page is in the tracker's memory now
    assert _members(bob.get("/group?id=lab")) == ["ann", "bob"]

    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"minutes of the lab meeting\n" * 100)
    bob_shell.ok(f"upload_file {notes} lab")
    page = ann.get("/group?id=lab")
    assert _names(page) == ["notes.txt"]
    assert "<span><bdi>bob</bdi></span>" in page.text  # shared by bob

    # ann announces a finished copy: a seed of a file becomes one of its sharers.
    (info_hash,) = re.findall(r'<tr data-ih="([0-9a-f]{40})">', page.text)
    seed = {"info_hash": info_hash, "peer_id": "ab" * 20, "ip": "127.0.0.1", "port": 6881}
    ann_api = _api(base_url, "ann")
    seeded = ann_api.post("/announce", json=seed | {"left": 0, "event": "started"})
    assert seeded.status_code == 200, seeded.text
    assert "<span><bdi>bob</bdi>, <bdi>ann</bdi></span>" in ann.get("/group?id=lab").text

    bob_shell.ok("stop_share lab notes.txt")
    assert _names(ann.get("/group?id=lab")) == ["notes.txt"]
    assert "<span><bdi>ann</bdi></span>" in ann.get("/group?id=lab").text
    assert ann_api.delete("/groups/lab/files/notes.txt/shares/me").status_code == 204
    assert _names(ann.get("/group?id=lab")) == []  # nobody shares it: gone

    removed = ann.post(
        "/group/remove",
        data={"csrf": csrf_of(ann.get("/groups").text), "group_id": "lab", "user_id": "bob"},
    )
    assert removed.status_code == 303, removed.text
    assert _members(ann.get("/group?id=lab")) == ["ann"]
    refused = bob.get("/group?id=lab")
    assert refused.status_code == 403 and "not a member of" in refused.text
    assert bob.get("/group/live?id=lab").status_code == 403


def test_a_page_in_memory_is_only_its_groups_and_only_for_its_members(
    web_user: Web, base_url: str
) -> None:
    ann, bob, cat = web_user("ann"), web_user("bob"), web_user("cat")
    for admin, admin_id, group_id in ((ann, "ann", "lab"), (bob, "bob", "gym")):
        token = csrf_of(admin.get("/groups").text)
        admin.post("/groups/create", data={"csrf": token, "group_id": group_id})
        token = csrf_of(cat.get("/groups").text)
        cat.post("/groups/join", data={"csrf": token, "group_id": group_id})
        token = csrf_of(admin.get("/groups").text)
        accepted = admin.post(
            "/group/accept", data={"csrf": token, "group_id": group_id, "user_id": "cat"}
        )
        assert accepted.status_code == 303, accepted.text
        _share(_api(base_url, admin_id), group_id, f"{group_id}-plan.txt")
    # cat's visits put both groups' pages in memory, the admin's and a member's views.
    assert _names(cat.get("/group?id=lab")) == ["lab-plan.txt"]
    assert _names(cat.get("/group?id=gym")) == ["gym-plan.txt"]
    assert _names(ann.get("/group?id=lab")) == ["lab-plan.txt"]
    assert _names(bob.get("/group?id=gym")) == ["gym-plan.txt"]

    for stranger, group_id in ((ann, "gym"), (bob, "lab")):
        for path in (f"/group?id={group_id}", f"/group/live?id={group_id}"):
            refused = stranger.get(path)
            assert refused.status_code == 403, path
            assert f"{group_id}-plan" not in refused.text
    assert ann.get("/group?id=nowhere").status_code == 404

    # Each viewer's forms carry their own CSRF token, and the page names them.
    for user, user_id in ((cat, "cat"), (ann, "ann")):
        page = user.get("/group?id=lab").text
        assert set(re.findall(r'name="csrf" value="([0-9a-f]*)"', page)) == {
            csrf_of(user.get("/groups").text)
        }
        assert f'<span class="who">({user_id})</span>' in page
    assert "Remove" in ann.get("/group?id=lab").text
    assert "Remove" not in cat.get("/group?id=lab").text  # the admin's buttons are hers
