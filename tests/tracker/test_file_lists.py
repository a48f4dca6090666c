"""GET /groups/{id}/files kept in memory (api/file_lists.py): always what the database
says, on both databases, and only for members."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import ApiUser, api_group, make_info


def _names(user: ApiUser, group_id: str) -> list[tuple[str, int, int, int]]:
    answer = user.get(f"/groups/{group_id}/files")
    assert answer.status_code == 200, answer.text
    return [(f["name"], f["seeders"], f["leechers"], f["sharers"]) for f in answer.json()]


def test_the_list_follows_every_change_at_once_and_serves_members_only(http: TestClient) -> None:
    ann, bob, cat = ApiUser(http, "ann"), ApiUser(http, "bob"), ApiUser(http, "cat")
    api_group("lab", ann, bob)
    api_group("gym", cat)
    assert _names(ann, "lab") == []  # kept from now on
    paper = ann.upload("lab", make_info("lab", "paper.pdf")).json()["info_hash"]
    ann.upload("lab", make_info("lab", "notes.txt", b"notes"))
    cat.upload("gym", make_info("gym", "plan.txt"))
    assert _names(ann, "lab") == [("notes.txt", 0, 0, 1), ("paper.pdf", 0, 0, 1)]

    # Counts are read on every request; a download finished makes a sharer.
    peer = {"info_hash": paper, "ip": "127.0.0.1", "port": 6881}
    leech = bob.post("/announce", peer | {"peer_id": "bb" * 20, "left": 5, "event": "started"})
    assert leech.status_code == 200, leech.text
    assert _names(ann, "lab")[1] == ("paper.pdf", 0, 1, 1)
    seed = bob.post("/announce", peer | {"peer_id": "bb" * 20, "left": 0, "event": "completed"})
    assert seed.status_code == 200, seed.text
    assert _names(ann, "lab")[1] == ("paper.pdf", 1, 0, 2)

    assert ann.delete("/groups/lab/files/notes.txt/shares/me").status_code == 204
    assert _names(bob, "lab") == [("paper.pdf", 1, 0, 2)]

    # Another group's list, kept too, is never another's answer.
    assert _names(cat, "gym") == [("plan.txt", 0, 0, 1)]
    assert ann.get("/groups/gym/files").status_code == 403
    assert cat.get("/groups/lab/files").status_code == 403
    assert ann.get("/groups/nowhere/files").status_code == 404
    assert ann.delete("/groups/lab/members/bob").status_code == 204
    assert bob.get("/groups/lab/files").status_code == 403
