"""Shapes of user-chosen identifiers."""

from __future__ import annotations

import re

from minitorrent.tracker.services.errors import Invalid

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_PASSWORD = 1024


def check_id(kind: str, value: str) -> str:
    """kind is "user" or "group"; the error names it."""
    if not _ID.fullmatch(value):
        raise Invalid(
            f"{kind} id must be 1-64 characters of letters, digits, '_', '.' or '-'",
            code=f"invalid_{kind}_id",
        )
    return value


def check_password(password: str) -> str:
    if not 1 <= len(password) <= MAX_PASSWORD:
        raise Invalid(f"password must be 1-{MAX_PASSWORD} characters", code="invalid_password")
    return password
