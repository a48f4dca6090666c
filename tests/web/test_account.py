"""My account in the browser: the passkey on request, rotating it, sessions, signing out
everywhere, a new password."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from minitorrent.driver import password_of

from .conftest import sign_up


def _api_login(base_url: str, user_id: str, password: str) -> httpx.Response:
    body = {"user_id": user_id, "password": password}
    return httpx.post(f"{base_url}/api/v1/sessions", json=body, timeout=10)


def test_passkey_sessions_password_and_signing_out_everywhere(
    new_page: Callable[..., Page], base_url: str, screenshot: Callable[[Page, str], None]
) -> None:
    page = new_page()
    page.goto("/login")
    screenshot(page, "sign-in")
    sign_up(page, "ann")
    shell = _api_login(base_url, "ann", password_of("ann")).json()  # a second session
    page.get_by_role("link", name="My account").click()
    assert shell["passkey"] not in page.content()  # hidden until asked
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="this browser")).to_have_count(1)
    screenshot(page, "account")

    page.get_by_role("link", name="Show my passkey").click()
    expect(page.locator("#passkey")).to_have_text(shell["passkey"])
    page.get_by_role("button", name="Rotate my passkey").click()
    rotated = page.locator("#passkey").inner_text()
    me = httpx.get(
        f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {shell['token']}"}
    ).json()
    assert rotated != shell["passkey"] and me["passkey"] == rotated

    # A new password: the wrong old one is refused; then the other sessions end.
    page.get_by_label("Current password").fill("not it")
    page.get_by_label("New password", exact=True).fill("a new one")
    page.get_by_label("New password again").fill("a new one")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("wrong password")
    page.go_back()
    page.get_by_label("Current password").fill(password_of("ann"))
    page.get_by_label("New password", exact=True).fill("a new one")
    page.get_by_label("New password again").fill("a new one")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("table tbody tr")).to_have_count(1)  # this browser only
    gone = httpx.get(f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {shell['token']}"})
    assert gone.status_code == 401
    assert _api_login(base_url, "ann", password_of("ann")).status_code == 401
    again = _api_login(base_url, "ann", "a new one").json()

    # Sign out everywhere: this browser and the new shell session too.
    page.get_by_role("button", name="Sign out everywhere").click()
    page.wait_for_url("**/login")
    page.goto("/groups")
    page.wait_for_url("**/login")
    gone = httpx.get(f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {again['token']}"})
    assert gone.status_code == 401
