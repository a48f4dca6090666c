"""The shape of user and group ids, shared by the tracker (the authority) and the
client (which must not put an id that cannot exist into a URL path or a file path).

Two rules. A new id must be safe as a single path element anywhere: it starts with a
letter, a digit or '_', so it is never "." or "..", never a hidden name and never read
as a command-line option. Ids created before that rule (they could start with '.' or
'-') still name their user or group: `name_problem` accepts them, and the client keeps
its state for one under `folder_name`, never under the id itself.
"""

from __future__ import annotations

import re

_CHARS = "letters, digits, '_', '.' or '-'"
# Every id the tracker ever created.
_EXISTING = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# What it creates now.
_NEW = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def id_problem(kind: str, value: str) -> str | None:
    """None when `value` may be the id of a new user or group; else why not.
    `kind` is "user" or "group"."""
    if _NEW.fullmatch(value):
        return None
    if _EXISTING.fullmatch(value):
        return f"{kind} id must not start with '.' or '-'"
    return f"{kind} id must be 1-64 characters of {_CHARS}"


def name_problem(kind: str, value: str) -> str | None:
    """None when `value` may name an existing user or group (one created before
    id_problem's first-character rule too); else why not."""
    if _EXISTING.fullmatch(value):
        return None
    return f"{kind} id must be 1-64 characters of {_CHARS}"


def folder_name(user_id: str) -> str:
    """A path element for `user_id`'s files: the id itself when it is safe as one, else
    '%' and its hex digits ('%' is in no id, so the two kinds never collide)."""
    if _NEW.fullmatch(user_id):
        return user_id
    return "%" + user_id.encode().hex()
