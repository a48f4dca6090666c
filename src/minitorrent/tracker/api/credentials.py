"""Signing up, signing in and changing a password, shared by the JSON API and the web pages.

argon2 runs between two short transactions, in a worker thread, holding no database
slot: a burst of sign-ups or logins never stalls the tracker's other requests."""

from __future__ import annotations

from minitorrent.tracker.context import TrackerContext
from minitorrent.tracker.services import accounts, users
from minitorrent.tracker.services.errors import Unauthorized


async def sign_up(context: TrackerContext, user_id: str, password: str, ip: str | None) -> None:
    """Create an account; refused by the id and password rules, a taken id or the
    per-address sign-up limit."""
    users.check_new_user(user_id, password)
    await context.work.reading(users.refuse_taken, user_id)
    context.signups.claim(ip)
    password_hash = await context.hashing(context.hasher.hash, password)
    await context.work.writing(users.add_user, user_id, password_hash, now=context.clock())


async def sign_in(
    context: TrackerContext, user_id: str, password: str, ip: str | None
) -> users.LoginResult:
    """services.users.login's steps: the same answer, in the same time, for an unknown
    user and a wrong password; login throttling per user and per address."""
    users.check_login(user_id, password, throttle=context.throttle, ip=ip)
    stored = await context.work.reading(users.password_hash_of, user_id)
    new_hash = await context.hashing(
        users.verify_login,
        user_id,
        password,
        stored,
        hasher=context.hasher,
        throttle=context.throttle,
        ip=ip,
    )
    return await context.work.writing(users.start_session, user_id, new_hash, now=context.clock())


async def change_password(
    context: TrackerContext, caller: users.Authenticated, old: str, new: str, ip: str | None
) -> int:
    """services.accounts.change_password's steps; how many other sessions ended."""
    accounts.check_new_password(old, new)
    users.check_login(caller.user_id, old, throttle=context.throttle, ip=ip)
    stored = await context.work.reading(users.password_hash_of, caller.user_id)
    try:
        await context.hashing(
            users.verify_login,
            caller.user_id,
            old,
            stored,
            hasher=context.hasher,
            throttle=context.throttle,
            ip=ip,
        )
    except Unauthorized:
        raise accounts.wrong_old_password() from None
    new_hash = await context.hashing(context.hasher.hash, new)
    return await context.work.writing(
        accounts.set_password, caller.user_id, caller.session_id, new_hash
    )
