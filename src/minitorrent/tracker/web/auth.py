"""Who a browser is: the session token in an HttpOnly cookie, and the CSRF token every
form that changes something must carry.

The session is the same as the shell's (POST /api/v1/sessions): same table, same idle
timeout, same cache (TrackerContext.sessions). The CSRF token is an HMAC of a secret
the browser holds only as an HttpOnly cookie, the session token (or, before login, a
random pre-session cookie): another site can make the browser send the cookie but can
neither read it nor compute the token, and SameSite=Lax already keeps the cookie off
its cross-site POSTs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Response

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.api.deps import context_of
from minitorrent.tracker.services.errors import Forbidden, not_logged_in
from minitorrent.tracker.services.users import Authenticated

SESSION_COOKIE = "minitorrent_session"
PRE_COOKIE = "minitorrent_pre"  # the CSRF secret of the sign-in forms
CSRF_FIELD = "csrf"
BAD_CSRF = Forbidden(
    "this form is out of date or came from another site; reload the page and try again",
    code=ErrorCode.BAD_CSRF,
)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name, value, httponly=True, secure=_secure(request), samesite="lax", path="/"
    )


def drop_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, httponly=True, secure=_secure(request), samesite="lax", path="/")


def _secret(request: Request) -> str | None:
    """The cookie the CSRF token is derived from: the session's, else the pre-session's
    (perhaps only just made, see pre_session)."""
    return (
        request.cookies.get(SESSION_COOKIE)
        or request.cookies.get(PRE_COOKIE)
        or getattr(request.state, "pre_session", None)
    )


def csrf_token(request: Request) -> str:
    secret = _secret(request)
    if secret is None:
        return ""
    return hmac.new(secret.encode(), b"minitorrent csrf", hashlib.sha256).hexdigest()


def with_pre_session(request: Request, render: Callable[[], Response]) -> Response:
    """A sign-in page: a browser with no cookie yet gets its CSRF secret with it."""
    new = None
    if _secret(request) is None:
        new = request.state.pre_session = secrets.token_urlsafe(32)
    response = render()  # its forms carry the token of the new secret
    if new is not None:
        set_cookie(request, response, PRE_COOKIE, new)
    return response


async def require_csrf(request: Request) -> None:
    """Every state-changing form: refused unless its token matches the browser's cookie."""
    form = await request.form()  # parsed once; the endpoint's Form() fields reuse it
    given = form.get(CSRF_FIELD)
    expected = csrf_token(request)
    if not (isinstance(given, str) and expected and hmac.compare_digest(given, expected)):
        raise BAD_CSRF


async def web_caller(request: Request) -> Authenticated:
    """The signed-in user (not_logged_in otherwise: the error pages send to sign-in)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise not_logged_in()
    return await context_of(request).caller(token)


WebCaller = Annotated[Authenticated, Depends(web_caller)]
Csrf = Depends(require_csrf)
