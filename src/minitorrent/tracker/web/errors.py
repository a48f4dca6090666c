"""Errors on the web pages are pages: the JSON API's answer (status, sentence) shown as
a page a person understands, never a traceback. A page that needs a signed-in user
sends a signed-out browser to the sign-in page instead."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.services.errors import DomainError
from minitorrent.tracker.web.auth import SESSION_COOKIE, drop_cookie
from minitorrent.tracker.web.render import page, redirect

Handler = Callable[[Request, Exception], Awaitable[Response]]
AnyHandler = Callable[[Request, Any], Response | Awaitable[Response]]
# Not pages: the JSON API, the BitTorrent announce and scrape, the API's documents.
NOT_WEB = ("/api/", "/announce/", "/scrape/", "/openapi.json", "/docs", "/redoc")
TITLES = {
    400: "That did not work",
    403: "Not allowed",
    404: "Not found",
    405: "Not found",
    409: "That did not work",
    422: "That form was not filled in right",
    429: "Too many attempts",
    500: "Something went wrong on the tracker",
    503: "The tracker is busy",
}


def is_web(request: Request) -> bool:
    return not request.url.path.startswith(NOT_WEB)


def _web_or_json(json_handler: AnyHandler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = json_handler(request, exc)
        if inspect.isawaitable(answer):  # api/errors.py's handlers all are
            answer = await answer
        if not is_web(request):
            return answer
        body = json.loads(bytes(answer.body))
        if body["error"] == ErrorCode.NOT_LOGGED_IN:
            response: Response = redirect("/login")
            drop_cookie(request, response, SESSION_COOKIE)  # dead anyway
            return response
        response = page(
            request,
            "error.html",
            status=answer.status_code,
            title=TITLES.get(answer.status_code, "That did not work"),
            message=body["message"],
        )
        if "Retry-After" in answer.headers:
            response.headers["Retry-After"] = answer.headers["Retry-After"]
        return response

    return handle


def install(app: FastAPI) -> None:
    """Wrap the JSON handlers (api/errors.install, called first)."""
    for cls in (
        DomainError,
        RequestValidationError,
        HTTPException,
        IntegrityError,
        OperationalError,
        Exception,
    ):
        app.add_exception_handler(cls, _web_or_json(app.exception_handlers[cls]))
