"""The pages' defences, through raw HTTP against a real tracker: CSRF, other groups,
dead cookies, hostile names, headers, and no secret in a URL."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from minitorrent.driver import password_of
from tests.tracker.helpers import make_info

from .conftest import csrf_of

Web = Callable[..., httpx.Client]


def _api(base_url: str, user_id: str) -> httpx.Client:
    """The JSON API as user_id (who exists already)."""
    body = {"user_id": user_id, "password": password_of(user_id)}
    token = httpx.post(f"{base_url}/api/v1/sessions", json=body).json()["token"]
    return httpx.Client(base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {token}"})


def _share(api: httpx.Client, group_id: str, name: str) -> None:
    info = make_info(group_id, name)
    body = {"info": base64.b64encode(info).decode()}
    answer = api.post(f"/groups/{group_id}/files", json=body)
    assert answer.status_code == 201, answer.text


def _alert(answer: httpx.Response) -> str:
    match = re.search(r'role="alert">(.*?)</p>', answer.text)
    assert match, answer.text
    return match.group(1)


def _group_ids(api: httpx.Client) -> list[str]:
    return [g["group_id"] for g in api.get("/groups").json()]


@pytest.mark.parametrize("token", [None, "", "0" * 64, "other user's"])
def test_a_form_without_its_csrf_token_is_refused(web_user: Web, base_url: str, token: str) -> None:
    ann = web_user("ann")
    if token == "other user's":
        token = csrf_of(web_user("bob").get("/groups").text)
    form = {"group_id": "lab"} | ({} if token is None else {"csrf": token})
    refused = ann.post("/groups/create", data=form)
    assert refused.status_code == 403
    assert _alert(refused) == (
        "this form is out of date or came from another site; reload the page and try again"
    )
    assert _group_ids(_api(base_url, "ann")) == []  # nothing happened
    form["csrf"] = csrf_of(ann.get("/groups").text)
    assert ann.post("/groups/create", data=form).status_code == 303


def test_sign_in_forms_need_their_token_too(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as http:
        form = {"user_id": "eve", "password": "pw"}
        assert http.post("/signup", data=form).status_code == 403
        http.get("/login")  # the pre-session cookie, but still no token in the form
        assert http.post("/signup", data=form).status_code == 403


def test_another_groups_pages_are_403(web_user: Web, base_url: str) -> None:
    ann, bob = web_user("ann"), web_user("bob")
    for user, group in ((ann, "lab"), (bob, "club")):
        user.post(
            "/groups/create", data={"csrf": csrf_of(user.get("/groups").text), "group_id": group}
        )
    _share(_api(base_url, "ann"), "lab", "secret.bin")
    for path in (
        "/group?id=lab",
        "/group/live?id=lab",
        "/group/log?id=lab",
        "/group/torrent?id=lab&file=secret.bin",
        "/group/magnet?id=lab&file=secret.bin",
    ):
        answer = bob.get(path)
        assert answer.status_code == 403, path
        assert _alert(answer) == "not a member of &#39;lab&#39;"
        assert "secret.bin" not in answer.text and "Traceback" not in answer.text
    csrf = csrf_of(bob.get("/groups").text)
    for action in ("/group/accept", "/group/reject", "/group/remove"):
        answer = bob.post(action, data={"csrf": csrf, "group_id": "lab", "user_id": "ann"})
        assert answer.status_code == 403
        assert _alert(answer) == "only the admin of &#39;lab&#39; can do that"
    assert ann.get("/group/torrent?id=lab&file=secret.bin").status_code == 200


def test_a_signed_out_cookie_is_dead(web_user: Web, base_url: str) -> None:
    ann = web_user("ann")
    cookie = ann.cookies["minitorrent_session"]
    signed_out = ann.post("/logout", data={"csrf": csrf_of(ann.get("/groups").text)})
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"
    with httpx.Client(base_url=base_url, cookies={"minitorrent_session": cookie}) as replay:
        answer = replay.get("/groups")
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert replay.get("/account").status_code == 303
    bearer = httpx.get(f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {cookie}"})
    assert bearer.status_code == 401


def test_cookies_and_headers(web_user: Web, base_url: str) -> None:
    with httpx.Client(base_url=base_url) as http:
        page = http.get("/login")
    assert "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=lax" in page.headers["set-cookie"]
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    ann = web_user("ann")
    ann.post("/groups/create", data={"csrf": csrf_of(ann.get("/groups").text), "group_id": "lab"})
    _share(_api(base_url, "ann"), "lab", "f.bin")
    passkey = _api(base_url, "ann").get("/me").json()["passkey"]
    token = ann.cookies["minitorrent_session"]
    for path in ("/groups", "/group?id=lab", "/group/log?id=lab", "/account"):
        html = ann.get(path).text
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, f"inline script on {path}"
        links = re.findall(r'(?:href|action|src)="([^"]*)"', html)
        assert not [u for u in links if passkey in u or token in u], path
    # The passkey is on the account page only when asked for, never in the group page.
    assert passkey not in ann.get("/account").text
    assert passkey not in ann.get("/group?id=lab").text
    assert passkey in ann.get("/account?show=passkey").text


# Right-to-left overrides are refused in file names when they are registered; ids allow
# none of these characters.
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    '"onmouseover=alert(1) x="',
    "\u05e9\u05dc\u05d5\u05dd.txt",
]


def test_hostile_file_names_are_text(
    web_user: Web, base_url: str, new_page: Callable[..., Page]
) -> None:
    ann = web_user("ann")
    ann.post("/groups/create", data={"csrf": csrf_of(ann.get("/groups").text), "group_id": "lab"})
    api = _api(base_url, "ann")
    for name in HOSTILE:
        _share(api, "lab", name)
    html = ann.get("/group?id=lab").text
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '"onmouseover' not in html and "&#34;onmouseover=alert(1) x=&#34;" in html
    assert "<bdi>\u05e9\u05dc\u05d5\u05dd.txt</bdi>" in html  # right-to-left text kept apart
    log = ann.get("/group/log?id=lab").text
    assert "<img src=x" not in log and "&lt;img src=x onerror=alert(1)&gt;" in log

    page = new_page()  # the browser shows them as they are, and runs nothing
    page.goto("/login")
    page.get_by_label("User name").first.fill("ann")
    page.get_by_label("Password").first.fill(password_of("ann"))
    page.get_by_role("button", name="Sign in").click()
    page.goto("/group?id=lab")
    names = page.locator("th.name").all_inner_texts()
    assert sorted(names) == sorted(HOSTILE)
    page.locator("th.name").first.hover()
    expect(page.locator("img")).to_have_count(0)


def test_login_throttling_and_errors_are_pages(web_user: Web, base_url: str) -> None:
    web_user("ann")
    with httpx.Client(base_url=base_url) as http:
        token = csrf_of(http.get("/login").text)
        for _ in range(5):
            wrong = http.post("/login", data={"csrf": token, "user_id": "ann", "password": "x"})
            assert wrong.status_code == 401
            assert _alert(wrong) == "wrong user id or password"
        right = {"csrf": token, "user_id": "ann", "password": password_of("ann")}
        throttled = http.post("/login", data=right)
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
        assert _alert(throttled).startswith("too many failed logins; try again in ")
        nobody = http.post("/login", data={"csrf": token, "user_id": "zed", "password": "x"})
        assert nobody.status_code == 401  # an unknown user is answered as a wrong password
        assert _alert(nobody) == "wrong user id or password"
        missing = http.get("/nowhere")
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
        assert "Traceback" not in missing.text


def test_the_log_page_goes_back_a_page_at_a_time(web_user: Web, base_url: str) -> None:
    ann = web_user("ann")
    ann.post("/groups/create", data={"csrf": csrf_of(ann.get("/groups").text), "group_id": "lab"})
    api = _api(base_url, "ann")
    for n in range(54):
        _share(api, "lab", f"f{n:02}")
    first = ann.get("/group/log?id=lab").text
    lines = re.findall(r"<bdi>(ann [^<]*)</bdi>", first)
    assert len(lines) == 50 and lines[0] == "ann shared f53" and lines[-1] == "ann shared f04"
    older = re.search(r'href="(/group/log\?id=lab&amp;before=\d+)">Older', first)
    assert older
    second = ann.get(older.group(1).replace("&amp;", "&")).text
    assert re.findall(r"<bdi>(ann [^<]*)</bdi>", second) == [
        "ann shared f03",
        "ann shared f02",
        "ann shared f01",
        "ann shared f00",
        "ann created the group",
    ]
    assert "Older" not in second


def test_requests_answers_and_leaving_through_the_forms(web_user: Web, base_url: str) -> None:
    ann, bob = web_user("ann"), web_user("bob")

    def post(user: httpx.Client, action: str, **fields: str) -> httpx.Response:
        answer = user.post(action, data={"csrf": csrf_of(user.get("/groups").text), **fields})
        assert answer.status_code == 303, answer.text
        return answer

    post(ann, "/groups/create", group_id="lab")
    post(bob, "/groups/join", group_id="lab")
    post(ann, "/group/reject", group_id="lab", user_id="bob")
    post(bob, "/groups/join", group_id="lab")
    post(bob, "/groups/leave", group_id="lab")  # withdraws the request
    post(bob, "/groups/join", group_id="lab")
    accepted = post(ann, "/group/accept", group_id="lab", user_id="bob")
    assert accepted.headers["location"] == "/group?id=lab"
    assert bob.get("/group?id=lab").status_code == 200
    post(bob, "/groups/leave", group_id="lab")
    assert bob.get("/group?id=lab").status_code == 403
    log = re.findall(r"<bdi>([^<]*)</bdi></li>", ann.get("/group/log?id=lab").text)
    assert list(reversed(log)) == [
        "ann created the group",
        "bob asked to join",
        "ann rejected bob",
        "bob asked to join",
        "bob withdrew their request to join",
        "bob asked to join",
        "ann accepted bob",
        "bob left",
    ]
