"""Accounts, sessions and passkeys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import ColumnElement, bindparam, delete, select
from sqlalchemy.orm import Session

from minitorrent.tracker.models import LoginSession, Peer, User
from minitorrent.tracker.services.errors import Conflict, NotFound, Unauthorized, not_logged_in
from minitorrent.tracker.services.ids import check_id, check_password
from minitorrent.tracker.services.sql import run
from minitorrent.tracker.services.throttle import LoginThrottle


@dataclass(frozen=True)
class LoginResult:
    token: str
    user_id: str
    passkey: str


@dataclass(frozen=True)
class Authenticated:
    user_id: str
    session_id: int


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _get_user(db: Session, user_id: str) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"no such user '{user_id}'", code="no_such_user")
    return user


def create_user(
    db: Session, user_id: str, password: str, *, hasher: PasswordHasher, now: datetime
) -> User:
    check_id("user", user_id)
    check_password(password)
    if db.get(User, user_id) is not None:
        raise Conflict(f"user '{user_id}' already exists", code="user_exists")
    user = User(
        id=user_id,
        password_hash=hasher.hash(password),
        passkey=secrets.token_hex(16),
        created_at=now,
    )
    db.add(user)
    db.flush()
    return user


def verify_password(
    db: Session,
    user_id: str,
    password: str,
    *,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    ip: str | None,
) -> User:
    """The user, if `password` is theirs; a wrong guess counts as a failed login."""
    # Shapes first: nothing unbounded reaches the counters or the hasher.
    check_id("user", user_id)
    check_password(password)
    throttle.check(user_id, ip)
    user = db.get(User, user_id)
    if user is None:
        throttle.failed(user_id, ip)
        raise NotFound(f"no such user '{user_id}'", code="no_such_user")
    try:
        hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        throttle.failed(user_id, ip)
        raise Unauthorized("wrong password", code="wrong_password") from None
    throttle.succeeded(user_id)
    return user


def login(
    db: Session,
    user_id: str,
    password: str,
    *,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    ip: str | None,
    now: datetime,
) -> LoginResult:
    user = verify_password(db, user_id, password, hasher=hasher, throttle=throttle, ip=ip)
    if hasher.check_needs_rehash(user.password_hash):  # cost settings were raised
        user.password_hash = hasher.hash(password)
    token = secrets.token_urlsafe(32)
    db.add(
        LoginSession(
            token_hash=_token_hash(token), user_id=user.id, created_at=now, last_used_at=now
        )
    )
    db.flush()
    return LoginResult(token=token, user_id=user.id, passkey=user.passkey)


def authenticate(
    db: Session,
    token: str,
    *,
    now: datetime,
    idle_ttl: timedelta,
    touch_interval: timedelta,
) -> Authenticated:
    """The session of a bearer token; refreshes its idle timer now and then."""
    session = db.scalar(select(LoginSession).where(LoginSession.token_hash == _token_hash(token)))
    if session is None or now - session.last_used_at > idle_ttl:
        raise not_logged_in()
    if now - session.last_used_at >= touch_interval:
        session.last_used_at = now
    return Authenticated(user_id=session.user_id, session_id=session.id)


def _end_sessions(db: Session, where: ColumnElement[bool]) -> int:
    ids = list(db.scalars(select(LoginSession.id).where(where)))
    if ids:
        db.execute(delete(Peer).where(Peer.session_id.in_(ids)))
        db.execute(delete(LoginSession).where(LoginSession.id.in_(ids)))
    return len(ids)


def logout(db: Session, session_id: int) -> None:
    """Revoke the session and drop every live peer it announced."""
    _end_sessions(db, LoginSession.id == session_id)


def expire_sessions(db: Session, *, now: datetime, idle_ttl: timedelta) -> int:
    return _end_sessions(db, LoginSession.last_used_at < now - idle_ttl)


_PASSKEY = select(User.passkey).where(User.id == bindparam("user_id"))


def passkey_of(db: Session, user_id: str) -> str:
    passkey = run(db, _PASSKEY, user_id=user_id).scalar()
    if passkey is None:
        raise NotFound(f"no such user '{user_id}'", code="no_such_user")
    return str(passkey)


def rotate_passkey(db: Session, user_id: str) -> str:
    user = _get_user(db, user_id)
    user.passkey = secrets.token_hex(16)
    db.flush()
    return user.passkey


def user_for_passkey(db: Session, passkey: str) -> str | None:
    return db.scalar(select(User.id).where(User.passkey == passkey))
