"""Files shared in a group, without HTTP."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastbencode import bencode  # type: ignore[attr-defined]
from sqlalchemy import select
from sqlalchemy.orm import Session

from minitorrent.file_list import FolderLimits
from minitorrent.tracker.models import Peer
from minitorrent.tracker.services import errors, files, swarm
from minitorrent.tracker.services.quotas import Quotas

from .helpers import (
    FakeClock,
    announce_of,
    info_hash,
    make_group,
    make_info,
    make_users,
    share,
)

POLICY = swarm.SwarmPolicy(default_interval=30, grace=5)


@pytest.fixture
def group(db: Session, hasher: PasswordHasher, clock: FakeClock) -> Session:
    """Group "g": ann (admin) and bob; cat is a stranger."""
    make_users(db, hasher, clock(), "ann", "bob", "cat")
    make_group(db, clock(), "g", "ann", "bob")
    return db


def _raw_info(**fields: object) -> bytes:
    base: dict[bytes, object] = {
        b"length": 1,
        b"name": b"f",
        b"piece length": 16384,
        b"pieces": b"\0" * 20,
        b"private": 1,
        b"source": b"g",
    }
    base.update({k.replace("_", " ").encode(): v for k, v in fields.items()})
    return bytes(bencode({k: v for k, v in base.items() if v is not None}))


def _announce(
    db: Session,
    user: str,
    ih: str,
    clock: FakeClock,
    *,
    peer: int = 0,
    left: int = 0,
    interval: int | None = None,
) -> None:
    ann = announce_of(ih, peer=peer, left=left, interval=interval)
    swarm.announce(db, user, ann, session_id=None, policy=POLICY, now=clock())


def test_share_and_list(group: Session, clock: FakeClock) -> None:
    data = b"x" * 40000
    info = make_info("g", "my file.bin", data)
    shared = files.share_file(group, "bob", "g", info, now=clock())
    assert (shared.name, shared.length, shared.info_hash) == ("my file.bin", 40000, info_hash(info))
    [view] = files.list_files(group, "ann", "g", now=clock())
    assert view == files.FileView(
        name="my file.bin",
        length=40000,
        info_hash=info_hash(info),
        piece_length=16384,
        seeders=0,
        leechers=0,
        sharers=1,
        file_count=None,
    )
    assert files.get_file(group, "ann", "g", "my file.bin", now=clock()).info == info


def test_members_only(group: Session, clock: FakeClock) -> None:
    share(group, clock(), "g", "ann", make_info("g"))
    for call in (
        lambda: files.share_file(group, "cat", "g", make_info("g"), now=clock()),
        lambda: files.list_files(group, "cat", "g", now=clock()),
        lambda: files.get_file(group, "cat", "g", "file.bin", now=clock()),
        lambda: files.stop_share(group, "cat", "g", "file.bin"),
    ):
        with pytest.raises(errors.Forbidden, match="not a member of 'g'"):
            call()
    with pytest.raises(errors.NotFound, match="no such group 'h'"):
        files.list_files(group, "cat", "h", now=clock())


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (_raw_info(source=b"other"), "source"),
        (_raw_info(private=None), "private"),
        (b"not bencoding", "bencoding"),
        (_raw_info(name=b"../evil"), "separator"),
        (_raw_info(name=b"a\\b"), "separator"),
        (_raw_info(name=b".."), "not a file name"),
        (_raw_info(name=b"nul\0"), "control"),
        (_raw_info(name=b"x" * 256), "too long"),
        (_raw_info(pieces=b"short"), "piece hashes"),
    ],
)
def test_bad_info_dictionaries_are_refused(
    group: Session, clock: FakeClock, raw: bytes, why: str
) -> None:
    with pytest.raises(errors.Invalid, match=why) as caught:
        files.share_file(group, "ann", "g", raw, now=clock())
    assert caught.value.code == "bad_info"


def test_name_of_255_bytes_is_fine(group: Session, clock: FakeClock) -> None:
    files.share_file(group, "ann", "g", _raw_info(name=b"x" * 255), now=clock())
    [view] = files.list_files(group, "ann", "g", now=clock())
    assert view.name == "x" * 255


def test_same_name_different_content_is_a_conflict(group: Session, clock: FakeClock) -> None:
    share(group, clock(), "g", "ann", make_info("g", "n", b"one"))
    with pytest.raises(
        errors.Conflict, match="a different file named 'n' is already shared in 'g'"
    ):
        share(group, clock(), "g", "bob", make_info("g", "n", b"two"))


def test_same_content_again_adds_a_sharer_idempotently(group: Session, clock: FakeClock) -> None:
    info = make_info("g")
    for user in ("ann", "bob", "bob"):
        share(group, clock(), "g", user, info)
    [view] = files.list_files(group, "ann", "g", now=clock())
    assert view.sharers == 2


def test_stop_share(group: Session, clock: FakeClock) -> None:
    info = make_info("g")
    ih = share(group, clock(), "g", "ann", info)
    share(group, clock(), "g", "bob", info)
    with pytest.raises(errors.NotFound, match="no such file 'zzz' in 'g'"):
        files.stop_share(group, "ann", "g", "zzz")
    files.stop_share(group, "ann", "g", "file.bin")
    with pytest.raises(errors.Conflict, match=r"you are not sharing 'file\.bin' in 'g'"):
        files.stop_share(group, "ann", "g", "file.bin")
    assert files.list_files(group, "ann", "g", now=clock())[0].sharers == 1
    _announce(group, "bob", ih, clock)
    files.stop_share(group, "bob", "g", "file.bin")  # the last sharer: the file goes
    assert files.list_files(group, "ann", "g", now=clock()) == []
    assert group.scalars(select(Peer)).all() == []


def test_stop_share_removes_all_the_callers_peers_of_that_file_only(
    group: Session, clock: FakeClock
) -> None:
    kept = share(group, clock(), "g", "ann", make_info("g", "kept"))
    ih = share(group, clock(), "g", "ann", make_info("g", "stopped"))
    share(group, clock(), "g", "bob", make_info("g", "stopped"))
    for peer in (1, 2):  # two client processes of ann
        _announce(group, "ann", ih, clock, peer=peer)
    _announce(group, "ann", kept, clock, peer=1)
    _announce(group, "bob", ih, clock, peer=3)
    files.stop_share(group, "ann", "g", "stopped")
    left = group.execute(select(Peer.user_id, Peer.file_id)).all()
    assert sorted(user for user, _ in left) == ["ann", "bob"]
    assert len({file_id for _, file_id in left}) == 2


def test_seeders_and_leechers_count_live_peers_only(group: Session, clock: FakeClock) -> None:
    ih = share(group, clock(), "g", "ann", make_info("g"))
    _announce(group, "ann", ih, clock, peer=1, left=0)
    _announce(group, "bob", ih, clock, peer=2, left=5, interval=100)
    _announce(group, "bob", ih, clock, peer=3, left=5, interval=1)
    [view] = files.list_files(group, "ann", "g", now=clock())
    assert (view.seeders, view.leechers, view.sharers) == (1, 2, 1)
    clock.advance(2 * 30 + 5)  # ann's and bob's short-interval peers have expired
    [view] = files.list_files(group, "ann", "g", now=clock())
    assert (view.seeders, view.leechers) == (0, 1)


def _folder_info(paths: list[list[bytes]], name: bytes = b"lectures") -> bytes:
    return _raw_info(
        name=name,
        length=None,
        files=[{b"length": 1, b"path": p} for p in paths],
        pieces=b"\0" * 20,
    )


def test_a_folder_is_registered_by_its_info_hash(group: Session, clock: FakeClock) -> None:
    raw = _folder_info([[b"week 1", b"intro.mp4"], [b"notes.txt"]])
    shared = files.share_file(group, "ann", "g", raw, now=clock())
    assert shared.info_hash == info_hash(raw)
    assert shared.file_count == 2 and shared.length == 2
    [view] = files.list_files(group, "bob", "g", now=clock())
    assert view.file_count == 2 and view.name == "lectures"
    assert files.file_contents(group, "bob", "g", "lectures") == [
        ("week 1/intro.mp4", 1),
        ("notes.txt", 1),
    ]
    files.share_file(group, "bob", "g", raw, now=clock())  # the same content: a sharer
    [view] = files.list_files(group, "bob", "g", now=clock())
    assert view.sharers == 2


@pytest.mark.parametrize(
    ("paths", "why"),
    [
        ([[b"..", b"x"]], "not a file name"),
        ([[b"/etc/passwd"]], "path separator"),
        ([[b"a\\b"]], "path separator"),
        ([["x\u202etxt.exe".encode()]], r"U\+202E"),
        ([[b"Read"], [b"READ"]], "both named"),
        ([[b"a"], [b"a", b"b"]], "also a folder"),
        ([[b"."]], "not a file name"),
    ],
)
def test_hostile_folders_are_refused_at_registration(
    group: Session, clock: FakeClock, paths: list[list[bytes]], why: str
) -> None:
    with pytest.raises(errors.Invalid, match=why) as caught:
        files.share_file(group, "ann", "g", _folder_info(paths), now=clock())
    assert caught.value.code == "bad_info"


def test_folder_limits_are_configurable(group: Session, clock: FakeClock) -> None:
    raw = _folder_info([[b"a"], [b"b"], [b"c"]])
    with pytest.raises(errors.Invalid, match="the folder has 3 files; at most 2 are allowed"):
        files.share_file(
            group, "ann", "g", raw, now=clock(), folder_limits=FolderLimits(max_files=2)
        )
    with pytest.raises(errors.Invalid, match="too long"):
        files.share_file(
            group, "ann", "g", raw, now=clock(), folder_limits=FolderLimits(max_path_bytes=9)
        )


def test_a_folder_counts_as_one_file_and_its_info_bytes_in_the_quotas(
    group: Session, clock: FakeClock
) -> None:
    raw = _folder_info([[b"x%d" % i] for i in range(50)])
    small = Quotas(info_bytes_per_member=len(raw) - 1)
    with pytest.raises(errors.Forbidden, match=f"would take {len(raw)} bytes"):
        files.share_file(group, "ann", "g", raw, now=clock(), quotas=small)
    limits = Quotas(files_per_member=1, info_bytes_per_member=len(raw))
    files.share_file(group, "ann", "g", raw, now=clock(), quotas=limits)
    with pytest.raises(errors.Forbidden, match="the most files a member may"):
        files.share_file(group, "ann", "g", make_info("g"), now=clock(), quotas=limits)
