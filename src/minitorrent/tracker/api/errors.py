"""Every error answer is JSON {"error": code, "message": one human sentence}.

Domain errors map to a status by class; framework errors (unknown route, bad
method, validation) and unexpected ones get the same shape, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.services import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: status.HTTP_404_NOT_FOUND,
    errors.Conflict: status.HTTP_409_CONFLICT,
    errors.Forbidden: status.HTTP_403_FORBIDDEN,
    errors.Unauthorized: status.HTTP_401_UNAUTHORIZED,
    errors.Invalid: status.HTTP_400_BAD_REQUEST,
    errors.TooManyAttempts: status.HTTP_429_TOO_MANY_REQUESTS,
}
HTTP_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}


def error_response(
    status_code: int, code: ErrorCode, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code, headers=headers)


def _status_of(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return status.HTTP_400_BAD_REQUEST


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    headers = None
    if isinstance(exc, errors.TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, errors.Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(_status_of(exc), exc.code, exc.message, headers)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "malformed request"}
    where = ".".join(str(part) for part in first["loc"][1:]) or "body"
    message = f"invalid request: {where}: {first['msg']}"
    return error_response(status.HTTP_422_UNPROCESSABLE_CONTENT, ErrorCode.INVALID_REQUEST, message)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(
        exc.status_code, HTTP_CODES.get(exc.status_code, ErrorCode.HTTP_ERROR), message, exc.headers
    )


async def _integrity(_: Request, exc: Exception) -> JSONResponse:
    # Two requests raced for the same unique key; the loser retries.
    log.info("integrity error: %s", exc)
    return error_response(
        status.HTTP_409_CONFLICT,
        ErrorCode.CONFLICT,
        "the request clashed with a concurrent change; retry",
    )


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database error: %s", exc)
    return error_response(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        ErrorCode.UNAVAILABLE,
        "the tracker's database is busy; retry",
    )


async def _internal(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return error_response(
        status.HTTP_500_INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL, "internal tracker error"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(OperationalError, _unavailable)
    app.add_exception_handler(Exception, _internal)
