"""Groups, join requests, membership and the admin role, without HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minitorrent.tracker.models import Base, Group, JoinRequest, Peer, Share, SharedFile
from minitorrent.tracker.services import errors, files, groups, swarm

from .helpers import FakeClock, announce_of, make_group, make_info, make_users, share


@pytest.fixture
def people(db: Session, hasher: PasswordHasher, clock: FakeClock) -> Session:
    make_users(db, hasher, clock(), "ann", "bob", "cat", "dan")
    return db


def _members(db: Session, group_id: str, as_user: str) -> list[tuple[str, bool]]:
    return [(m.user_id, m.is_admin) for m in groups.list_members(db, as_user, group_id)]


def _count(db: Session, model: type[Base]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_creator_is_admin_and_first_member(people: Session, clock: FakeClock) -> None:
    view = groups.create_group(people, "ann", "g", now=clock())
    assert (view.admin, view.members, view.is_admin) == ("ann", 1, True)
    assert _members(people, "g", "ann") == [("ann", True)]


def test_duplicate_group_and_bad_group_id(people: Session, clock: FakeClock) -> None:
    groups.create_group(people, "ann", "g", now=clock())
    with pytest.raises(errors.Conflict, match="group 'g' already exists"):
        groups.create_group(people, "bob", "g", now=clock())
    with pytest.raises(errors.Invalid, match="group id"):
        groups.create_group(people, "bob", "no/slash", now=clock())


def test_list_groups_marks_membership_admin_and_pending(people: Session, clock: FakeClock) -> None:
    make_group(people, clock(), "g1", "ann", "bob")
    make_group(people, clock(), "g2", "cat")
    groups.request_join(people, "bob", "g2", now=clock())
    views = {v.group_id: v for v in groups.list_groups(people, "bob")}
    assert (views["g1"].members, views["g1"].is_member, views["g1"].is_admin) == (2, True, False)
    assert (views["g2"].admin, views["g2"].is_member, views["g2"].pending) == ("cat", False, True)
    assert [v.group_id for v in groups.list_groups(people, "dan")] == ["g1", "g2"]


def test_join_request_refusals(people: Session, clock: FakeClock) -> None:
    make_group(people, clock(), "g", "ann")
    with pytest.raises(errors.NotFound, match="no such group 'nope'"):
        groups.request_join(people, "bob", "nope", now=clock())
    with pytest.raises(errors.Conflict, match="already a member of 'g'"):
        groups.request_join(people, "ann", "g", now=clock())
    groups.request_join(people, "bob", "g", now=clock())
    with pytest.raises(errors.Conflict, match="join request for 'g' already pending"):
        groups.request_join(people, "bob", "g", now=clock())


def test_accept_and_reject(people: Session, clock: FakeClock) -> None:
    make_group(people, clock(), "g", "ann")
    groups.request_join(people, "bob", "g", now=clock())
    groups.request_join(people, "cat", "g", now=clock())
    assert [r.user_id for r in groups.list_requests(people, "ann", "g")] == ["bob", "cat"]
    groups.accept_request(people, "ann", "g", "bob", now=clock())
    groups.reject_request(people, "ann", "g", "cat")
    assert groups.list_requests(people, "ann", "g") == []
    assert _members(people, "g", "bob") == [("ann", True), ("bob", False)]
    with pytest.raises(errors.NotFound, match="no pending request from 'cat' for 'g'"):
        groups.accept_request(people, "ann", "g", "cat", now=clock())
    with pytest.raises(errors.NotFound, match="no pending request from 'dan' for 'g'"):
        groups.reject_request(people, "ann", "g", "dan")


def test_only_the_admin_handles_requests_and_members(people: Session, clock: FakeClock) -> None:
    make_group(people, clock(), "g", "ann", "bob")
    groups.request_join(people, "cat", "g", now=clock())
    refused = "only the admin of 'g' can do that"
    for who in ("bob", "dan"):  # a member, a stranger
        with pytest.raises(errors.Forbidden, match=refused):
            groups.list_requests(people, who, "g")
        with pytest.raises(errors.Forbidden, match=refused):
            groups.accept_request(people, who, "g", "cat", now=clock())
        with pytest.raises(errors.Forbidden, match=refused):
            groups.reject_request(people, who, "g", "cat")
        with pytest.raises(errors.Forbidden, match=refused):
            groups.remove_member(people, who, "g", "ann")


def test_group_existence_is_checked_before_rights(people: Session, clock: FakeClock) -> None:
    calls: list[Callable[[], object]] = [
        lambda: groups.list_requests(people, "bob", "nope"),
        lambda: groups.accept_request(people, "bob", "nope", "x", now=clock()),
        lambda: groups.reject_request(people, "bob", "nope", "x"),
        lambda: groups.list_members(people, "bob", "nope"),
        lambda: groups.remove_member(people, "bob", "nope", "x"),
        lambda: groups.leave_group(people, "bob", "nope"),
    ]
    for call in calls:
        with pytest.raises(errors.NotFound, match="no such group 'nope'"):
            call()


def test_list_members_is_for_members(people: Session, clock: FakeClock) -> None:
    make_group(people, clock(), "g", "ann", "bob", "cat")
    assert _members(people, "g", "cat") == [("ann", True), ("bob", False), ("cat", False)]
    with pytest.raises(errors.Forbidden, match="not a member of 'g'"):
        groups.list_members(people, "dan", "g")


def test_leave_withdraws_a_pending_request(people: Session, clock: FakeClock) -> None:
    make_group(people, clock(), "g", "ann")
    groups.request_join(people, "bob", "g", now=clock())
    assert groups.leave_group(people, "bob", "g") == "withdrawn"
    assert groups.list_requests(people, "ann", "g") == []
    with pytest.raises(errors.Conflict, match="not a member of 'g'"):
        groups.leave_group(people, "bob", "g")


def test_admin_leaving_hands_over_to_the_earliest_member(people: Session, clock: FakeClock) -> None:
    make_group(people, clock(), "g", "ann", "cat", "bob")  # cat joined before bob
    assert groups.leave_group(people, "ann", "g") == "left"
    assert _members(people, "g", "bob") == [("cat", True), ("bob", False)]
    groups.leave_group(people, "cat", "g")
    assert _members(people, "g", "bob") == [("bob", True)]


def test_group_disappears_with_its_last_member(people: Session, clock: FakeClock) -> None:
    make_group(people, clock(), "g", "ann")
    groups.request_join(people, "bob", "g", now=clock())
    share(people, clock(), "g", "ann", make_info("g"))
    groups.leave_group(people, "ann", "g")
    assert groups.list_groups(people, "bob") == []
    for model in (Group, JoinRequest, SharedFile, Share):
        assert _count(people, model) == 0
    groups.create_group(people, "bob", "g", now=clock())  # the name is free again


def test_remove_member(people: Session, clock: FakeClock) -> None:
    make_group(people, clock(), "g", "ann", "bob")
    with pytest.raises(errors.Invalid, match="use leave_group to leave your own group"):
        groups.remove_member(people, "ann", "g", "ann")
    with pytest.raises(errors.NotFound, match="'cat' is not a member of 'g'"):
        groups.remove_member(people, "ann", "g", "cat")
    groups.remove_member(people, "ann", "g", "bob")
    assert _members(people, "g", "ann") == [("ann", True)]


@pytest.mark.parametrize("how", ["leave", "removed"])
def test_leaving_ends_shares_and_peers_in_that_group_only(
    people: Session, clock: FakeClock, how: str
) -> None:
    make_group(people, clock(), "g", "ann", "bob")
    make_group(people, clock(), "h", "bob")
    shared_by_both = share(people, clock(), "g", "ann", make_info("g", "both"))
    share(people, clock(), "g", "bob", make_info("g", "both"))
    only_bob = share(people, clock(), "g", "bob", make_info("g", "only-bob"))
    elsewhere = share(people, clock(), "h", "bob", make_info("h", "elsewhere"))
    for ih in (shared_by_both, only_bob, elsewhere):
        swarm.announce(
            people,
            "bob",
            announce_of(ih),
            session_id=None,
            policy=swarm.SwarmPolicy(),
            now=clock(),
        )
    if how == "leave":
        groups.leave_group(people, "bob", "g")
    else:
        groups.remove_member(people, "ann", "g", "bob")
    names = {f.name: f.sharers for f in files.list_files(people, "ann", "g", now=clock())}
    assert names == {"both": 1}  # only-bob disappeared with its last sharer
    assert people.scalars(select(Peer.user_id)).all() == ["bob"]  # the one in "h"
    with pytest.raises(errors.NotFound):  # no longer bob's group: an unknown torrent
        swarm.announce(
            people,
            "bob",
            announce_of(shared_by_both),
            session_id=None,
            policy=swarm.SwarmPolicy(),
            now=clock(),
        )
