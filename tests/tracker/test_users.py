"""Accounts, login throttling, sessions and passkeys, without HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minitorrent.tracker.models import LoginSession, Peer
from minitorrent.tracker.services import errors, swarm, users
from minitorrent.tracker.services.throttle import LoginThrottle

from .helpers import FakeClock, announce_of, make_group, make_info, make_users, share
from .helpers import login as _login

TTL = timedelta(seconds=3600)
TOUCH = timedelta(seconds=10)


@pytest.fixture
def throttle(clock: FakeClock) -> LoginThrottle:
    return LoginThrottle(max_per_user=5, max_per_ip=20, window=600, clock=clock.monotonic)


def _auth(db: Session, token: str, clock: FakeClock) -> users.Authenticated:
    return users.authenticate(db, token, now=clock(), idle_ttl=TTL, touch_interval=TOUCH)


def test_create_user_hashes_with_argon2id_and_gives_a_passkey(
    db: Session, hasher: PasswordHasher, clock: FakeClock
) -> None:
    user = users.create_user(db, "alice", "secret", hasher=hasher, now=clock())
    assert user.password_hash.startswith("$argon2id$")
    assert "secret" not in user.password_hash
    assert len(user.passkey) == 32


def test_duplicate_user_is_a_conflict(
    db: Session, hasher: PasswordHasher, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    with pytest.raises(errors.Conflict, match="user 'alice' already exists"):
        users.create_user(db, "alice", "other", hasher=hasher, now=clock())


@pytest.mark.parametrize(
    "user_id", ["", "a" * 65, "with space", "slash/", "ünï", "a\nb", ".", "..", ".x", "-x"]
)
def test_bad_user_ids_are_refused(
    db: Session, hasher: PasswordHasher, clock: FakeClock, user_id: str
) -> None:
    with pytest.raises(errors.Invalid) as caught:
        users.create_user(db, user_id, "pw", hasher=hasher, now=clock())
    assert caught.value.code == "invalid_user_id"


@pytest.mark.parametrize("user_id", ["a", "a" * 64, "A.b_c-9"])
def test_good_user_ids_at_the_boundaries(
    db: Session, hasher: PasswordHasher, clock: FakeClock, user_id: str
) -> None:
    assert users.create_user(db, user_id, "pw", hasher=hasher, now=clock()).id == user_id


@pytest.mark.parametrize(("length", "ok"), [(0, False), (1, True), (1024, True), (1025, False)])
def test_password_length(
    db: Session, hasher: PasswordHasher, clock: FakeClock, length: int, ok: bool
) -> None:
    if ok:
        users.create_user(db, "u", "p" * length, hasher=hasher, now=clock())
    else:
        with pytest.raises(errors.Invalid, match="password"):
            users.create_user(db, "u", "p" * length, hasher=hasher, now=clock())


def test_login_gives_a_token_stored_only_as_its_hash(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    result = _login(db, hasher, throttle, clock, "alice", "pw-alice")
    assert len(result.token) >= 43  # 32 random bytes
    stored = db.scalars(select(LoginSession.token_hash)).all()
    assert result.token not in stored and len(stored[0]) == 64
    assert _auth(db, result.token, clock).user_id == "alice"


def test_unknown_user_and_wrong_password(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    for user_id in ("bob", "alice"):  # the same answer: unknown user, wrong password
        with pytest.raises(errors.Unauthorized, match=r"^wrong user id or password$"):
            _login(db, hasher, throttle, clock, user_id, "x")


def test_several_sessions_per_user(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    one = _login(db, hasher, throttle, clock, "alice", "pw-alice")
    two = _login(db, hasher, throttle, clock, "alice", "pw-alice")
    users.logout(db, _auth(db, one.token, clock).session_id)
    with pytest.raises(errors.Unauthorized):
        _auth(db, one.token, clock)
    assert _auth(db, two.token, clock).user_id == "alice"


def test_throttle_per_user_after_five_failures(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    for _ in range(5):
        with pytest.raises(errors.Unauthorized):
            _login(db, hasher, throttle, clock, "alice", "guess")
    clock.advance(100)
    # Refused even with the right password, and from another address.
    with pytest.raises(errors.TooManyAttempts, match="try again in 500 s"):
        _login(db, hasher, throttle, clock, "alice", "pw-alice", ip="10.9.9.9")
    clock.advance(500)
    assert _login(db, hasher, throttle, clock, "alice", "pw-alice").user_id == "alice"


def test_throttle_per_ip_after_many_failures(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    for i in range(5):  # typos for ids that do not exist lock no one else
        with pytest.raises(errors.Unauthorized):
            _login(db, hasher, throttle, clock, f"typo{i}", "x")
    assert _login(db, hasher, throttle, clock, "alice", "pw-alice")
    for i in range(15):
        with pytest.raises(errors.Unauthorized):
            _login(db, hasher, throttle, clock, f"nobody{i}", "x")
    with pytest.raises(errors.TooManyAttempts):
        _login(db, hasher, throttle, clock, "alice", "pw-alice")
    assert _login(db, hasher, throttle, clock, "alice", "pw-alice", ip="10.0.0.2")


def test_throttle_success_clears_the_user_counter(clock: FakeClock) -> None:
    throttle = LoginThrottle(max_per_user=2, max_per_ip=100, window=60, clock=clock.monotonic)
    throttle.failed("alice", "ip")
    throttle.succeeded("alice")
    throttle.failed("alice", "ip")
    throttle.check("alice", "ip")  # one failure only since the success
    throttle.failed("alice", "ip")
    with pytest.raises(errors.TooManyAttempts):
        throttle.check("alice", "ip")


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("2001:db8::1", "2001:db8::ffff:1", True),  # one host's /64
        ("2001:db8::1", "2001:db8:0:1::1", False),
        ("::ffff:10.0.0.1", "10.0.0.1", True),
        ("10.0.0.1", "10.0.0.2", False),
    ],
)
def test_an_address_is_an_ipv4_address_or_an_ipv6_slash_64(
    clock: FakeClock, one: str, other: str, same: bool
) -> None:
    throttle = LoginThrottle(max_per_user=100, max_per_ip=1, window=60, clock=clock.monotonic)
    throttle.failed("a", one)
    if same:
        with pytest.raises(errors.TooManyAttempts):
            throttle.check("b", other)
    else:
        throttle.check("b", other)


def test_throttle_sweep_forgets_old_counters(clock: FakeClock) -> None:
    throttle = LoginThrottle(max_per_user=1, window=60, clock=clock.monotonic)
    throttle.failed("alice", "ip")
    clock.advance(61)
    throttle.sweep()
    assert throttle._failures._events == {}


def test_session_expires_when_idle_and_activity_keeps_it(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    token = _login(db, hasher, throttle, clock, "alice", "pw-alice").token
    for _ in range(3):  # active: 3 x 3000 s > TTL, but never 3600 s idle
        clock.advance(3000)
        _auth(db, token, clock)
    clock.advance(3601)
    with pytest.raises(errors.Unauthorized) as caught:
        _auth(db, token, clock)
    assert caught.value.code == "not_logged_in"


def test_touch_is_written_at_most_every_ten_seconds(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    token = _login(db, hasher, throttle, clock, "alice", "pw-alice").token
    start = clock()
    clock.advance(5)
    _auth(db, token, clock)
    assert db.scalar(select(LoginSession.last_used_at)) == start
    clock.advance(5)
    _auth(db, token, clock)
    assert db.scalar(select(LoginSession.last_used_at)) == clock()


def test_expire_sessions_drops_idle_sessions_and_their_peers(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    make_group(db, clock(), "g", "alice")
    info = share(db, clock(), "g", "alice", make_info("g"))
    session = _auth(db, _login(db, hasher, throttle, clock, "alice", "pw-alice").token, clock)
    swarm.announce(
        db,
        "alice",
        announce_of(info),
        session_id=session.session_id,
        policy=swarm.SwarmPolicy(default_interval=3600),
        now=clock(),
    )
    clock.advance(3601)
    assert users.expire_sessions(db, now=clock(), idle_ttl=TTL) == 1
    assert db.scalar(select(func.count()).select_from(Peer)) == 0


def test_logout_removes_the_sessions_peers_only(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    make_group(db, clock(), "g", "alice")
    info = share(db, clock(), "g", "alice", make_info("g"))
    policy = swarm.SwarmPolicy()
    one, two = (
        _auth(db, _login(db, hasher, throttle, clock, "alice", "pw-alice").token, clock)
        for _ in range(2)
    )
    for n, session in enumerate((one, two)):
        swarm.announce(
            db,
            "alice",
            announce_of(info, peer=n),
            session_id=session.session_id,
            policy=policy,
            now=clock(),
        )
    users.logout(db, one.session_id)
    assert db.scalars(select(Peer.session_id)).all() == [two.session_id]


def test_rotate_passkey_kills_the_old_one(
    db: Session, hasher: PasswordHasher, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "alice")
    old = users.passkey_of(db, "alice")
    assert users.user_for_passkey(db, old) == "alice"
    new = users.rotate_passkey(db, "alice")
    assert new != old
    assert users.user_for_passkey(db, old) is None
    assert users.user_for_passkey(db, new) == "alice"
