"""Shapes of user-chosen identifiers."""

from __future__ import annotations

from minitorrent.error_codes import ErrorCode
from minitorrent.ids import id_problem, name_problem
from minitorrent.tracker.services.errors import Invalid

MAX_PASSWORD = 1024


def check_id(kind: str, value: str) -> str:
    """The id of a new user or group; kind is "user" or "group", the error names it."""
    return _checked(kind, value, id_problem(kind, value))


_INVALID_ID = {"user": ErrorCode.INVALID_USER_ID, "group": ErrorCode.INVALID_GROUP_ID}


def check_name(kind: str, value: str) -> str:
    """An id naming an existing user or group (see minitorrent.ids)."""
    return _checked(kind, value, name_problem(kind, value))


def _checked(kind: str, value: str, problem: str | None) -> str:
    if problem is not None:
        raise Invalid(problem, code=_INVALID_ID[kind])
    return value


def check_password(password: str) -> str:
    if not 1 <= len(password) <= MAX_PASSWORD:
        raise Invalid(
            f"password must be 1-{MAX_PASSWORD} characters", code=ErrorCode.INVALID_PASSWORD
        )
    return password
