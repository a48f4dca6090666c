"""My account's rules, without HTTP: sessions, signing out everywhere, a new password."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from minitorrent.tracker.services import accounts, errors, users
from minitorrent.tracker.services.throttle import LoginThrottle

from .helpers import FakeClock, make_users
from .helpers import login as _login


@pytest.fixture
def throttle(clock: FakeClock) -> LoginThrottle:
    return LoginThrottle(clock=clock.monotonic)


def _session_of(db: Session, token: str, clock: FakeClock) -> int:
    caller = users.authenticate(
        db, token, now=clock(), idle_ttl=timedelta(hours=1), touch_interval=timedelta(0)
    )
    return caller.session_id


def test_sessions_are_listed_last_used_first_and_end_everywhere(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "ann", "bob")
    first = _login(db, hasher, throttle, clock, "ann", "pw-ann")
    clock.advance(60)
    second = _login(db, hasher, throttle, clock, "ann", "pw-ann")
    bobs = _login(db, hasher, throttle, clock, "bob", "pw-bob")
    listed = accounts.list_sessions(db, "ann")
    assert [s.session_id for s in listed] == [
        _session_of(db, second.token, clock),
        _session_of(db, first.token, clock),
    ]
    assert accounts.end_all_sessions(db, "ann") == 2
    assert accounts.list_sessions(db, "ann") == []
    with pytest.raises(errors.Unauthorized):
        _session_of(db, first.token, clock)
    _session_of(db, bobs.token, clock)  # other users keep theirs


def test_a_new_password_needs_the_old_one_and_ends_the_other_sessions(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "ann")
    here = _login(db, hasher, throttle, clock, "ann", "pw-ann")
    elsewhere = _login(db, hasher, throttle, clock, "ann", "pw-ann")
    here_id = _session_of(db, here.token, clock)

    def change(old: str, new: str) -> int:
        return accounts.change_password(
            db, "ann", here_id, old, new, hasher=hasher, throttle=throttle, ip="10.0.0.1"
        )

    with pytest.raises(errors.Unauthorized, match="wrong password"):
        change("guess", "new-pw")
    with pytest.raises(errors.Invalid, match="the new password is the old one"):
        change("pw-ann", "pw-ann")
    with pytest.raises(errors.Invalid, match="password must be"):
        change("pw-ann", "")
    assert change("pw-ann", "new-pw") == 1
    _session_of(db, here.token, clock)  # this one stays
    with pytest.raises(errors.Unauthorized):
        _session_of(db, elsewhere.token, clock)
    with pytest.raises(errors.Unauthorized, match="wrong user id or password"):
        _login(db, hasher, throttle, clock, "ann", "pw-ann")
    _login(db, hasher, throttle, clock, "ann", "new-pw")


def test_guessing_the_old_password_is_throttled_like_logins(
    db: Session, hasher: PasswordHasher, throttle: LoginThrottle, clock: FakeClock
) -> None:
    make_users(db, hasher, clock(), "ann")
    here = _session_of(db, _login(db, hasher, throttle, clock, "ann", "pw-ann").token, clock)
    for _ in range(5):
        with pytest.raises(errors.Unauthorized):
            accounts.change_password(
                db, "ann", here, "guess", "x", hasher=hasher, throttle=throttle, ip="10.0.0.1"
            )
    with pytest.raises(errors.TooManyAttempts):
        accounts.change_password(
            db, "ann", here, "pw-ann", "x", hasher=hasher, throttle=throttle, ip="10.0.0.1"
        )
