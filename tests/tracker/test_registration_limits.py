"""What a member may register: names that show what they are, and quotas on how many
files and how many info-dictionary bytes a member and a group hold."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from minitorrent.tracker.app import create_app
from minitorrent.tracker.db import Database
from minitorrent.tracker.settings import TrackerSettings

from .helpers import FAST_HASH, ApiUser, FakeClock, api_group, info_hash, make_info

HIDDEN = ["\u202e", "\u2066", "\u2028", "\u2029", "\u200b", "\ufeff", "\x85"]


@pytest.mark.parametrize("hidden", HIDDEN)
def test_names_that_lie_on_screen_are_refused_at_registration(
    http: TestClient, hidden: str
) -> None:
    ann = ApiUser(http, "ann")
    api_group("g", ann)
    refused = ann.upload("g", make_info("g", f"report{hidden}fdp.exe"))
    assert refused.status_code == 400 and refused.json()["error"] == "bad_info"
    assert f"U+{ord(hidden):04X}" in refused.json()["message"]
    assert hidden not in refused.json()["message"]  # shown escaped, never as itself
    assert ann.get("/groups/g/files").json() == []


Limits = Callable[..., TestClient]


@pytest.fixture
def limited(db_url: str, database: Database, clock: FakeClock) -> Iterator[Limits]:
    """A tracker app with the given quota settings (e.g. quota_files_per_member=2)."""
    with contextlib.ExitStack() as stack:

        def start(**quotas: int) -> TestClient:
            settings = TrackerSettings(db_url=db_url, **FAST_HASH, **quotas)
            app = create_app(settings, database=database, clock=clock, monotonic=clock.monotonic)
            return stack.enter_context(TestClient(app, client=("127.0.0.1", 50000)))

        yield start


def _refused(response: httpx.Response, message: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {"error": "quota_exceeded", "message": f"quota reached: {message}"}


def test_files_per_member_in_a_group(limited: Limits) -> None:
    http = limited(quota_files_per_member=2)
    ann, bob = ApiUser(http, "ann"), ApiUser(http, "bob")
    api_group("g", ann, bob)
    api_group("h", ann)
    assert ann.upload("g", make_info("g", "a")).status_code == 201
    assert ann.upload("g", make_info("g", "b")).status_code == 201
    third = make_info("g", "c")
    _refused(ann.upload("g", third), "you already share the most files a member may in 'g' (2)")
    assert ann.upload("g", make_info("g", "a")).status_code == 201  # shares it already
    assert ann.upload("h", make_info("h", "c")).status_code == 201  # another group
    assert bob.upload("g", third).status_code == 201  # bob's own quota
    assert ann.delete("/groups/g/files/a/shares/me").status_code == 204
    assert ann.upload("g", third).status_code == 201  # a free place again
    names = [(f["name"], f["sharers"]) for f in ann.get("/groups/g/files").json()]
    assert names == [("b", 1), ("c", 2)]


def test_files_per_group(limited: Limits) -> None:
    http = limited(quota_files_per_group=2)
    ann, bob = ApiUser(http, "ann"), ApiUser(http, "bob")
    api_group("g", ann, bob)
    assert ann.upload("g", make_info("g", "a")).status_code == 201
    assert bob.upload("g", make_info("g", "b")).status_code == 201
    _refused(
        bob.upload("g", make_info("g", "c")), "'g' already holds the most files a group may (2)"
    )
    assert bob.upload("g", make_info("g", "a")).status_code == 201  # no new file: allowed


def test_info_bytes_per_member_and_per_group(limited: Limits) -> None:
    big, small = make_info("g", "big", bytes(16384 * 50)), make_info("g", "small")
    per_member = len(big) + len(small) - 1
    http = limited(quota_info_bytes_per_member=per_member, quota_info_bytes_per_group=per_member)
    ann, bob = ApiUser(http, "ann"), ApiUser(http, "bob")
    api_group("g", ann, bob)
    api_group("h", ann)
    assert ann.upload("g", big).status_code == 201
    _refused(
        ann.upload("h", make_info("h", "small")),  # counted over all the member's groups
        f"the info dictionaries of the files you share would take {per_member + 1} bytes; "
        f"a member may have {per_member}",
    )
    _refused(
        bob.upload("g", small),
        f"the info dictionaries of 'g' would take {per_member + 1} bytes; "
        f"a group may have {per_member}",
    )
    assert ann.get("/groups/g/files").json()[0]["info_hash"] == info_hash(big)
