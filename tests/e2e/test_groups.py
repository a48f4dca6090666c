"""The group rules as users see them, each user in their own client process."""

from __future__ import annotations

from collections.abc import Callable

from minitorrent.driver import Client

from .helpers import groups_view, members_view


def test_creator_is_admin_and_list_groups_marks_yours(
    make_users: Callable[..., list[Client]],
) -> None:
    alice, bob = make_users("alice", "bob", group=None)
    assert alice.ok("create_group lab") == ["group 'lab' created; you are its admin"]
    alice.fails("create_group lab", r"group 'lab' already exists")
    bob.ok("create_group club")
    assert members_view(alice.ok("list_members lab")) == {"alice": "admin"}
    assert groups_view(alice.ok("list_groups")) == {
        "club": ("", "bob", 1),
        "lab": ("*", "alice", 1),
    }
    assert bob.ok("join_group lab") == ["join request sent to the admin of 'lab'"]
    assert groups_view(bob.ok("list_groups")) == {
        "club": ("*", "bob", 1),
        "lab": ("?", "alice", 1),  # pending: not counted as a member yet
    }
    alice.ok("accept_request lab bob")
    assert groups_view(bob.ok("list_groups"))["lab"] == ("*", "alice", 2)


def test_join_accept_reject(make_users: Callable[..., list[Client]]) -> None:
    alice, bob, carol = make_users("alice", "bob", "carol", group=None)
    alice.ok("create_group lab")
    assert alice.ok("list_requests lab") == ["no pending requests"]
    bob.ok("join_group lab")
    bob.fails("join_group lab", r"join request for 'lab' already pending")
    bob.fails("list_members lab", r"not a member of 'lab'")  # pending is not a member
    carol.ok("join_group lab")
    assert [row.split()[0] for row in alice.ok("list_requests lab")[1:]] == ["bob", "carol"]
    # Only the admin sees and answers requests.
    bob.fails("list_requests lab", r"only the admin of 'lab' can do that")
    bob.fails("accept_request lab bob", r"only the admin of 'lab' can do that")
    bob.fails("reject_request lab carol", r"only the admin of 'lab' can do that")

    assert alice.ok("accept_request lab bob") == ["'bob' is now a member of 'lab'"]
    assert members_view(bob.ok("list_members lab")) == {"alice": "admin", "bob": ""}
    bob.fails("join_group lab", r"already a member of 'lab'")
    bob.fails("accept_request lab carol", r"only the admin")  # members are not admins
    alice.fails("accept_request lab bob", r"no pending request from 'bob' for 'lab'")

    assert alice.ok("reject_request lab carol") == ["rejected the request of 'carol' to join 'lab'"]
    assert alice.ok("list_requests lab") == ["no pending requests"]
    carol.fails("list_members lab", r"not a member of 'lab'")
    assert groups_view(carol.ok("list_groups"))["lab"] == ("", "alice", 2)
    alice.fails("reject_request lab carol", r"no pending request from 'carol'")
    alice.fails("accept_request lab nobody", r"no pending request from 'nobody'")
    carol.ok("join_group lab")  # rejected users may ask again
    assert alice.ok("list_requests lab")[1].split()[0] == "carol"


def test_leave_group_withdraws_a_pending_request(make_users: Callable[..., list[Client]]) -> None:
    alice, bob = make_users("alice", "bob", group=None)
    alice.ok("create_group lab")
    bob.ok("join_group lab")
    assert bob.ok("leave_group lab") == ["withdrew your request to join 'lab'"]
    assert alice.ok("list_requests lab") == ["no pending requests"]
    assert groups_view(bob.ok("list_groups"))["lab"] == ("", "alice", 1)
    bob.fails("leave_group lab", r"not a member of 'lab'")
    alice.fails("accept_request lab bob", r"no pending request from 'bob'")


def test_only_the_admin_removes_members(make_users: Callable[..., list[Client]]) -> None:
    alice, bob, carol = make_users("alice", "bob", "carol", group=None)
    alice.ok("create_group lab")
    for member in (bob, carol):
        member.ok("join_group lab")
    alice.ok("accept_request lab bob")
    alice.ok("accept_request lab carol")
    bob.fails("remove_member lab carol", r"only the admin of 'lab' can do that")
    assert alice.ok("remove_member lab bob") == ["removed 'bob' from 'lab'"]
    bob.fails("list_members lab", r"not a member of 'lab'")
    assert members_view(carol.ok("list_members lab")) == {"alice": "admin", "carol": ""}
    alice.fails("remove_member lab bob", r"'bob' is not a member of 'lab'")
    alice.fails("remove_member lab alice", r"use leave_group to leave your own group")
    assert groups_view(bob.ok("list_groups"))["lab"] == ("", "alice", 2)


def test_admin_leaves_then_the_earliest_member_is_admin(
    make_users: Callable[..., list[Client]],
) -> None:
    # amy asks first but zed is accepted first: zed joined earliest (and sorts last).
    alice, zed, amy = make_users("alice", "zed", "amy", group=None)
    alice.ok("create_group lab")
    amy.ok("join_group lab")
    zed.ok("join_group lab")
    alice.ok("accept_request lab zed")
    alice.ok("accept_request lab amy")
    assert groups_view(amy.ok("list_groups"))["lab"] == ("*", "alice", 3)

    assert alice.ok("leave_group lab") == ["left 'lab'"]
    assert members_view(amy.ok("list_members lab")) == {"zed": "admin", "amy": ""}
    assert groups_view(alice.ok("list_groups"))["lab"] == ("", "zed", 2)
    alice.fails("list_members lab", r"not a member of 'lab'")
    alice.ok("join_group lab")  # the new admin answers requests now
    amy.fails("list_requests lab", r"only the admin")
    assert zed.ok("list_requests lab")[1].split()[0] == "alice"

    zed.ok("leave_group lab")
    assert members_view(amy.ok("list_members lab")) == {"amy": "admin"}
    assert groups_view(amy.ok("list_groups"))["lab"] == ("*", "amy", 1)

    amy.ok("leave_group lab")  # the last member: the group is gone, requests with it
    assert amy.ok("list_groups") == ["no groups"]
    alice.fails("leave_group lab", r"no such group 'lab'")
    amy.fails("join_group lab", r"no such group 'lab'")
    alice.ok("create_group lab")  # the id is free again, and the group is new
    assert alice.ok("list_requests lab") == ["no pending requests"]
    assert members_view(alice.ok("list_members lab")) == {"alice": "admin"}


def test_no_such_group(make_users: Callable[..., list[Client]]) -> None:
    (alice,) = make_users("alice", group=None)
    for command in (
        "join_group nope",
        "leave_group nope",
        "list_requests nope",
        "accept_request nope alice",
        "reject_request nope alice",
        "list_members nope",
        "remove_member nope alice",
    ):
        alice.fails(command, r"^error: no such group 'nope'$")
