"""The pages by keyboard alone: every step is reached with Tab and done with Enter."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from minitorrent.driver import password_of


def _tab_to(page: Page, selector: str, most: int = 40) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_sign_up_create_a_group_and_read_its_log_by_keyboard(
    new_page: Callable[..., Page],
) -> None:
    page = new_page(phone=True)
    page.goto("/login")
    _tab_to(page, "#signup-user")
    page.keyboard.type("kim")
    _tab_to(page, "#signup-password")
    page.keyboard.type(password_of("kim"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/groups")
    _tab_to(page, "#new-group")
    page.keyboard.type("keys")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Group keys")
    _tab_to(page, "a[href^='/group/log']")
    page.keyboard.press("Enter")
    expect(page.locator("ul.log li")).to_contain_text(["kim created the group"])
    _tab_to(page, "a[href='/account']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/account")
    _tab_to(page, "a[href='/account?show=passkey']")
    page.keyboard.press("Enter")
    expect(page.locator("#passkey")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
