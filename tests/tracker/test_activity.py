"""The group activity log, without HTTP: every change writes its line, members read it."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from minitorrent.tracker.db import Database
from minitorrent.tracker.models import Base
from minitorrent.tracker.services import activity, errors, files, groups

from .helpers import FakeClock, make_info, make_users, share


@pytest.fixture
def people(db: Session, hasher: PasswordHasher, clock: FakeClock) -> Session:
    make_users(db, hasher, clock(), "ann", "bob", "cat", "dan")
    return db


def _log(db: Session, as_user: str = "bob", group_id: str = "g") -> list[str]:
    """The whole log, oldest first."""
    return [e.text for e in reversed(activity.group_log(db, as_user, group_id))]


def test_every_change_writes_its_line_in_order(people: Session, clock: FakeClock) -> None:
    db = people
    groups.create_group(db, "ann", "g", now=clock())
    groups.request_join(db, "bob", "g", now=clock())
    groups.request_join(db, "cat", "g", now=clock())
    groups.request_join(db, "dan", "g", now=clock())
    groups.accept_request(db, "ann", "g", "bob", now=clock())
    groups.reject_request(db, "ann", "g", "cat", now=clock())
    groups.leave_group(db, "dan", "g", now=clock())  # a withdrawn request
    share(db, clock(), "g", "ann", make_info("g", "a.bin"))
    share(db, clock(), "g", "bob", make_info("g", "a.bin"))
    share(db, clock(), "g", "bob", make_info("g", "a.bin"))  # again: no news
    share(db, clock(), "g", "bob", make_info("g", "b.bin"))
    files.stop_share(db, "ann", "g", "a.bin", now=clock())  # bob still shares it
    groups.request_join(db, "cat", "g", now=clock())
    groups.accept_request(db, "ann", "g", "cat", now=clock())
    groups.remove_member(db, "ann", "g", "cat", now=clock())
    groups.leave_group(db, "ann", "g", now=clock())  # bob inherits the group
    files.stop_share(db, "bob", "g", "b.bin", now=clock())  # the last sharer
    assert _log(db) == [
        "ann created the group",
        "bob asked to join",
        "cat asked to join",
        "dan asked to join",
        "ann accepted bob",
        "ann rejected cat",
        "dan withdrew their request to join",
        "ann shared a.bin",
        "bob shared a.bin",
        "bob shared b.bin",
        "ann stopped sharing a.bin",
        "cat asked to join",
        "ann accepted cat",
        "ann removed cat",
        "ann left",
        "bob became admin",
        "bob stopped sharing b.bin",
        "b.bin is gone: nobody shares it any more",
    ]


def test_lines_carry_actor_subject_and_time(people: Session, clock: FakeClock) -> None:
    groups.create_group(people, "ann", "g", now=clock())
    groups.request_join(people, "bob", "g", now=clock())
    clock.advance(60)
    groups.accept_request(people, "ann", "g", "bob", now=clock())
    newest = activity.group_log(people, "bob", "g")[0]
    assert (newest.actor, newest.action, newest.subject, newest.at) == (
        "ann",
        "accepted",
        "bob",
        clock(),
    )


def test_a_leaving_member_takes_files_nobody_else_shares(people: Session, clock: FakeClock) -> None:
    groups.create_group(people, "ann", "g", now=clock())
    groups.request_join(people, "bob", "g", now=clock())
    groups.accept_request(people, "ann", "g", "bob", now=clock())
    share(people, clock(), "g", "bob", make_info("g", "x.bin"))
    groups.remove_member(people, "ann", "g", "bob", now=clock())
    assert _log(people, "ann")[-2:] == [
        "ann removed bob",
        "x.bin is gone: nobody shares it any more",
    ]


def test_pages_newest_first(people: Session, clock: FakeClock) -> None:
    groups.create_group(people, "ann", "g", now=clock())
    for n in range(5):
        share(people, clock(), "g", "ann", make_info("g", f"f{n}"))
    first = activity.group_log(people, "ann", "g", limit=2)
    assert [e.subject for e in first] == ["f4", "f3"]
    second = activity.group_log(people, "ann", "g", before=first[-1].id, limit=2)
    assert [e.subject for e in second] == ["f2", "f1"]
    last = activity.group_log(people, "ann", "g", before=second[-1].id, limit=2)
    assert [e.action for e in last] == ["shared", "created"]
    assert activity.group_log(people, "ann", "g", before=last[-1].id) == []
    with pytest.raises(errors.Invalid, match="limit must be 1 to 200"):
        activity.group_log(people, "ann", "g", limit=201)


def test_only_members_read_it_and_it_goes_with_its_group(people: Session, clock: FakeClock) -> None:
    groups.create_group(people, "ann", "g", now=clock())
    groups.request_join(people, "bob", "g", now=clock())
    with pytest.raises(errors.Forbidden, match="not a member of 'g'"):
        activity.group_log(people, "bob", "g")
    with pytest.raises(errors.NotFound, match="no such group 'h'"):
        activity.group_log(people, "bob", "h")
    groups.leave_group(people, "ann", "g", now=clock())  # the last member: the group goes
    groups.create_group(people, "cat", "g", now=clock())
    assert _log(people, "cat") == ["cat created the group"]


def test_the_migrations_build_the_tables_the_models_describe(database: Database) -> None:
    """On SQLite and PostgreSQL alike: nothing for `alembic revision --autogenerate`."""
    with database.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
