"""Accounts and passkeys: POST /users, GET /me, POST /me/passkey."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import BaseModel

from minitorrent.tracker.api import credentials
from minitorrent.tracker.api.deps import DB, Caller, Context, client_ip, db_endpoint
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
async def create_user(body: NewUser, request: Request, context: Context) -> UserOut:
    """Holding no database slot while the password is hashed (credentials.sign_up)."""
    await credentials.sign_up(context, body.user_id, body.password, client_ip(request))
    return UserOut(user_id=body.user_id)


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
