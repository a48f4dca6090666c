"""Shapes of user-chosen identifiers."""

from __future__ import annotations

from minitorrent.ids import id_problem
from minitorrent.tracker.services.errors import Invalid

MAX_PASSWORD = 1024


def check_id(kind: str, value: str) -> str:
    """kind is "user" or "group"; the error names it."""
    problem = id_problem(kind, value)
    if problem is not None:
        raise Invalid(problem, code=f"invalid_{kind}_id")
    return value


def check_password(password: str) -> str:
    if not 1 <= len(password) <= MAX_PASSWORD:
        raise Invalid(f"password must be 1-{MAX_PASSWORD} characters", code="invalid_password")
    return password
