"""Login and logout: POST /sessions, DELETE /sessions/current."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from minitorrent.tracker.api import credentials
from minitorrent.tracker.api.deps import DB, Caller, Context, client_ip, db_endpoint
from minitorrent.tracker.services import users

router = APIRouter(tags=["sessions"])


class Credentials(BaseModel):
    user_id: str
    password: str


class NewSession(BaseModel):
    token: str
    user_id: str
    passkey: str
    idle_ttl: int  # seconds the session lives without a call
    shared_database: bool  # False (SQLite): no other tracker knows this session


@router.post("/sessions", status_code=status.HTTP_201_CREATED)
async def login(body: Credentials, request: Request, context: Context) -> NewSession:
    """Holding no database slot while the password is checked (credentials.sign_in)."""
    result = await credentials.sign_in(context, body.user_id, body.password, client_ip(request))
    return NewSession(
        token=result.token,
        user_id=result.user_id,
        passkey=result.passkey,
        idle_ttl=context.settings.session_idle_ttl,
        shared_database=context.database.is_shared,
    )


@router.delete("/sessions/current", status_code=status.HTTP_204_NO_CONTENT)
@db_endpoint
def logout(caller: Caller, db: DB) -> Response:
    """Revoke the token and drop every live peer this session announced."""
    users.logout(db, caller.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
