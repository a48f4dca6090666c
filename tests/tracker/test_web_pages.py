"""The web pages' reads on both databases (the browser tests run SQLite trackers)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .helpers import ApiUser, api_group, make_info


def test_group_page_live_counts_and_log_on_both_databases(http: TestClient) -> None:
    ann, bob = ApiUser(http, "ann"), ApiUser(http, "bob")
    api_group("g", ann, bob)
    info_hash = ann.upload("g", make_info("g", "paper.pdf")).json()["info_hash"]
    ApiUser(http, "cat").post("/groups/g/requests")
    http.cookies.set("minitorrent_session", ann.token)  # ann's session, as a browser's

    page = http.get("/group?id=g")
    assert page.status_code == 200
    assert re.findall(r'<th scope="row" class="name"><bdi>([^<]*)</bdi>', page.text) == [
        "paper.pdf"
    ]
    assert 'Accept <span class="sr">cat</span>' in page.text  # ann is the admin
    assert http.get("/group/live?id=g").json() == {info_hash: [0, 0, 0]}
    log = re.findall(r"<bdi>([^<]*)</bdi></li>", http.get("/group/log?id=g").text)
    assert log == [
        "cat asked to join",
        "ann shared paper.pdf",
        "ann accepted bob",
        "bob asked to join",
        "ann created the group",
    ]
    http.cookies.set("minitorrent_session", ApiUser(http, "dan").token)
    assert http.get("/group?id=g").status_code == 403
    assert http.get("/group/live?id=g").status_code == 403
