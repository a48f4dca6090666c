"""Fixtures of the web tests: a real tracker process, Debian's chromium driven by
Playwright, and raw HTTP sessions signed in through the pages' own forms."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from minitorrent.driver import Tracker, password_of

# Playwright cannot download its own browsers here: Debian's (make system-deps).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# MINITORRENT_SCREENSHOTS=docs/screenshots: the journeys save the main pages there.
SCREENSHOTS = "MINITORRENT_SCREENSHOTS"
PHONE = {"width": 390, "height": 844}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]*)"')


@pytest.fixture
def base_url(tracker: Tracker, tracker_info: Path) -> str:
    """The tracker's address, as tracker_info.txt lists it (it is running)."""
    host, port = tracker_info.read_text().split()
    return f"http://{host}:{port}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        why = f"no {CHROMIUM}: install it (apt-get install chromium; make system-deps)"
        if os.environ.get("CI") == "true":  # CI must not pass by skipping them
            pytest.fail(why)
        pytest.skip(why)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Browser, base_url: str) -> Iterator[Callable[..., Page]]:
    """new_page(): a page in a browser profile of its own (its own cookies), so each
    user of a test is a separate person; `phone=True`: a phone-sized screen."""
    contexts = []

    def make(*, phone: bool = False) -> Page:
        context = browser.new_context(
            base_url=base_url,
            viewport=PHONE if phone else {"width": 1280, "height": 800},
            accept_downloads=True,
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: pytest.fail(f"a page opened a dialog: {dialog.message}"))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot() -> Callable[[Page, str], None]:
    """Save the page as <name>.png when MINITORRENT_SCREENSHOTS names a directory."""
    directory = os.environ.get(SCREENSHOTS)

    def shoot(page: Page, name: str) -> None:
        if directory:
            Path(directory).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)

    return shoot


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no form with a CSRF token on the page"
    return match.group(1)


@pytest.fixture
def web_user(base_url: str) -> Iterator[Callable[..., httpx.Client]]:
    """web_user("ann"): raw HTTP, signed up and in through the pages' forms (cookies kept
    by the client); `create=False` signs an existing user in."""
    clients: list[httpx.Client] = []

    def make(user_id: str, *, create: bool = True) -> httpx.Client:
        http = httpx.Client(base_url=base_url, timeout=20)
        clients.append(http)
        token = csrf_of(http.get("/login").text)
        form = {"csrf": token, "user_id": user_id, "password": password_of(user_id)}
        signed_in = http.post("/signup" if create else "/login", data=form)
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/groups"
        return http

    yield make
    for http in clients:
        http.close()


def sign_up(page: Page, user_id: str) -> None:
    """Create an account in the browser, by the keyboard (the form has labels)."""
    page.goto("/login")
    page.get_by_label("User name").nth(1).fill(user_id)
    page.get_by_label("Password").nth(1).fill(password_of(user_id))
    page.get_by_role("button", name="Create account").press("Enter")
    page.wait_for_url("**/groups")
