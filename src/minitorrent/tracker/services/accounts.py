"""A user's own account: their sessions, signing out everywhere, a new password.

Beside services/users.py (accounts, logins, passkeys), for the web's account page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.models import LoginSession, User
from minitorrent.tracker.services.errors import Invalid, Unauthorized
from minitorrent.tracker.services.ids import check_password
from minitorrent.tracker.services.sql import run
from minitorrent.tracker.services.throttle import LoginThrottle
from minitorrent.tracker.services.users import (
    _end_sessions,
    check_login,
    password_hash_of,
    verify_login,
)


@dataclass(frozen=True)
class SessionView:
    session_id: int
    created_at: datetime
    last_used_at: datetime


_SESSIONS = (
    select(LoginSession.id, LoginSession.created_at, LoginSession.last_used_at)
    .where(LoginSession.user_id == bindparam("user_id"))
    .order_by(LoginSession.last_used_at.desc(), LoginSession.id.desc())
)


def list_sessions(db: Session, user_id: str) -> list[SessionView]:
    """Every live session of the user (shell clients and browsers), last used first."""
    return [SessionView(*row) for row in run(db, _SESSIONS, user_id=user_id)]


def end_all_sessions(db: Session, user_id: str) -> int:
    """Sign out everywhere: every session and the peers they announced; how many."""
    return _end_sessions(db, LoginSession.user_id == user_id)


def check_new_password(old: str, new: str) -> None:
    check_password(new)
    if new == old:
        raise Invalid("the new password is the old one", code=ErrorCode.SAME_PASSWORD)


def wrong_old_password() -> Unauthorized:
    """The user is known when changing a password: say which of the two was wrong."""
    return Unauthorized("wrong password", code=ErrorCode.WRONG_PASSWORD)


def set_password(db: Session, user_id: str, session_id: int, password_hash: str) -> int:
    """Store a new password hash; every other session of the user ends. How many ended."""
    user = db.get(User, user_id)
    if user is None:  # gone since its old password was checked
        raise Invalid("no such user", code=ErrorCode.NO_SUCH_USER)
    user.password_hash = password_hash
    return _end_sessions(db, (LoginSession.user_id == user_id) & (LoginSession.id != session_id))


def change_password(
    db: Session,
    user_id: str,
    session_id: int,
    old: str,
    new: str,
    *,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    ip: str | None,
) -> int:
    """All in one transaction, for tools and tests; the web pages check and hash outside
    of it (api/credentials.py), with the same steps. Guesses count as failed logins."""
    check_new_password(old, new)
    check_login(user_id, old, throttle=throttle, ip=ip)
    stored = password_hash_of(db, user_id)
    try:
        verify_login(user_id, old, stored, hasher=hasher, throttle=throttle, ip=ip)
    except Unauthorized:
        raise wrong_old_password() from None
    return set_password(db, user_id, session_id, hasher.hash(new))
