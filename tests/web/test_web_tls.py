"""The pages over HTTPS: the session cookie (and the pre-session one) is Secure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from minitorrent.driver import Tracker, free_port, password_of
from tests.e2e.test_security_tls import make_ca_and_server_cert

from .conftest import csrf_of


def test_over_https_cookies_are_secure(
    start_tracker: Callable[..., Tracker], tmp_path: Path
) -> None:
    port = free_port()
    info = tmp_path / "tracker_info_https.txt"
    info.write_text(f"https://127.0.0.1:{port}\n")
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    start_tracker("--tls-cert", str(cert), "--tls-key", str(key), info=info)
    with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=str(ca)) as http:
        page = http.get("/login")
        assert "Secure" in page.headers["set-cookie"]
        form = {"csrf": csrf_of(page.text), "user_id": "ann", "password": password_of("ann")}
        signed_in = http.post("/signup", data=form)
        assert signed_in.status_code == 303
        session_cookie = next(
            c
            for c in signed_in.headers.get_list("set-cookie")
            if c.startswith("minitorrent_session=")
        )
        assert "Secure" in session_cookie and "HttpOnly" in session_cookie
        assert http.get("/groups").status_code == 200
