"""Accounts, sessions and passkeys."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, bindparam, delete, select
from sqlalchemy.orm import Session

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.models import LoginSession, Peer, User
from minitorrent.tracker.services import changes
from minitorrent.tracker.services.errors import Conflict, NotFound, Unauthorized, not_logged_in
from minitorrent.tracker.services.ids import check_id, check_name, check_password
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
        raise NotFound(f"no such user '{user_id}'", code=ErrorCode.NO_SUCH_USER)
    return user


def check_new_user(user_id: str, password: str) -> None:
    """The shapes of a new account: before anything else, nothing unbounded is hashed."""
    check_id("user", user_id)
    check_password(password)


def refuse_taken(db: Session, user_id: str) -> None:
    if db.get(User, user_id) is not None:
        raise Conflict(f"user '{user_id}' already exists", code=ErrorCode.USER_EXISTS)


def add_user(db: Session, user_id: str, password_hash: str, *, now: datetime) -> User:
    """The account, its password already hashed (outside any transaction: api/users.py)."""
    check_id("user", user_id)
    refuse_taken(db, user_id)
    user = User(
        id=user_id, password_hash=password_hash, passkey=secrets.token_hex(16), created_at=now
    )
    db.add(user)
    db.flush()
    return user


def create_user(
    db: Session, user_id: str, password: str, *, hasher: PasswordHasher, now: datetime
) -> User:
    """All in one transaction, for tools and tests; the API hashes outside of it."""
    check_new_user(user_id, password)
    refuse_taken(db, user_id)  # before paying for the hash
    return add_user(db, user_id, hasher.hash(password), now=now)


def wrong_credentials() -> Unauthorized:
    """One answer for an unknown user and a wrong password: which ids exist is not
    for a password guesser to learn."""
    return Unauthorized("wrong user id or password", code=ErrorCode.WRONG_CREDENTIALS)


def check_login(user_id: str, password: str, *, throttle: LoginThrottle, ip: str | None) -> None:
    """Shapes first: nothing unbounded reaches the counters or the hasher. An account
    created before today's id rule still logs in (check_name)."""
    check_name("user", user_id)
    check_password(password)
    throttle.check(user_id, ip)


_PASSWORD_HASH = select(User.password_hash).where(User.id == bindparam("user_id"))


def password_hash_of(db: Session, user_id: str) -> str | None:
    found = run(db, _PASSWORD_HASH, user_id=user_id).scalar()
    return None if found is None else str(found)


@functools.lru_cache(maxsize=8)
def dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of no one's password at `hasher`'s cost, checked for unknown users."""
    return hasher.hash(secrets.token_urlsafe(16))


def verify_login(
    user_id: str,
    password: str,
    stored_hash: str | None,
    *,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    ip: str | None,
) -> str | None:
    """Blocking (argon2). Raise wrong_credentials, or return the password's new hash
    when the cost settings were raised since it was stored (else None). An unknown
    user (`stored_hash` None) is checked against a dummy hash: same work, same time."""
    try:
        hasher.verify(stored_hash or dummy_hash(hasher), password)
        known = stored_hash is not None
    except (VerificationError, InvalidHashError):
        known = False
    if not known:
        throttle.failed(user_id, ip)
        raise wrong_credentials()
    throttle.succeeded(user_id)
    assert stored_hash is not None
    return hasher.hash(password) if hasher.check_needs_rehash(stored_hash) else None


def start_session(db: Session, user_id: str, new_hash: str | None, *, now: datetime) -> LoginResult:
    """A session for a user whose password verify_login accepted."""
    user = db.get(User, user_id)
    if user is None:  # gone since its password was checked
        raise wrong_credentials()
    if new_hash is not None:
        user.password_hash = new_hash
    token = secrets.token_urlsafe(32)
    db.add(
        LoginSession(
            token_hash=_token_hash(token), user_id=user.id, created_at=now, last_used_at=now
        )
    )
    db.flush()
    return LoginResult(token=token, user_id=user.id, passkey=user.passkey)


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
    """All in one transaction, for tools and tests; the API checks the password
    outside of it (api/sessions.py), with the same steps."""
    check_login(user_id, password, throttle=throttle, ip=ip)
    stored = password_hash_of(db, user_id)
    new_hash = verify_login(user_id, password, stored, hasher=hasher, throttle=throttle, ip=ip)
    return start_session(db, user_id, new_hash, now=now)


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
    ended = db.execute(select(LoginSession.id, LoginSession.user_id).where(where)).all()
    if ended:
        ids = [session_id for session_id, _ in ended]
        db.execute(delete(Peer).where(Peer.session_id.in_(ids)))
        db.execute(delete(LoginSession).where(LoginSession.id.in_(ids)))
        user_ids = frozenset(user_id for _, user_id in ended)
        changes.record(db, changes.SessionsEnded(frozenset(ids), user_ids))
    return len(ended)


def logout(db: Session, session_id: int) -> None:
    """Revoke the session and drop every live peer it announced."""
    _end_sessions(db, LoginSession.id == session_id)


def expire_sessions(db: Session, *, now: datetime, idle_ttl: timedelta) -> int:
    return _end_sessions(db, LoginSession.last_used_at < now - idle_ttl)


_PASSKEY = select(User.passkey).where(User.id == bindparam("user_id"))


def passkey_of(db: Session, user_id: str) -> str:
    passkey = run(db, _PASSKEY, user_id=user_id).scalar()
    if passkey is None:
        raise NotFound(f"no such user '{user_id}'", code=ErrorCode.NO_SUCH_USER)
    return str(passkey)


def rotate_passkey(db: Session, user_id: str) -> str:
    user = _get_user(db, user_id)
    user.passkey = secrets.token_hex(16)
    db.flush()
    changes.record(db, changes.PasskeyChanged(user_id))
    return user.passkey


def user_for_passkey(db: Session, passkey: str) -> str | None:
    return db.scalar(select(User.id).where(User.passkey == passkey))
