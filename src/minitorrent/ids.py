"""The shape of user and group ids, shared by the tracker (the authority) and the
client (which must not put an id that cannot exist into a URL path)."""

from __future__ import annotations

import re

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def id_problem(kind: str, value: str) -> str | None:
    """None when `value` is a valid id; else why not. `kind` is "user" or "group"."""
    if _ID.fullmatch(value):
        return None
    return f"{kind} id must be 1-64 characters of letters, digits, '_', '.' or '-'"
