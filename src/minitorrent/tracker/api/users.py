"""Accounts and passkeys: POST /users, GET /me, POST /me/passkey."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel

from minitorrent.tracker.api.deps import DB, Caller, Context, db_endpoint
from minitorrent.tracker.services import users

router = APIRouter(tags=["users"])


class NewUser(BaseModel):
    user_id: str
    password: str


class UserOut(BaseModel):
    user_id: str


class Me(BaseModel):
    user_id: str
    passkey: str


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: NewUser, context: Context, db: DB) -> UserOut:
    user = users.create_user(
        db, body.user_id, body.password, hasher=context.hasher, now=context.clock()
    )
    return UserOut(user_id=user.id)


@router.get("/me")
@db_endpoint
def me(caller: Caller, db: DB) -> Me:
    return Me(user_id=caller.user_id, passkey=users.passkey_of(db, caller.user_id))


@router.post("/me/passkey")
@db_endpoint
def rotate_passkey(caller: Caller, db: DB) -> Me:
    """A new passkey; announces with the old one fail from now on."""
    passkey = users.rotate_passkey(db, caller.user_id)
    return Me(user_id=caller.user_id, passkey=passkey)
