"""The tracker's JSON answers as typed values, read at the edge.

Each answer is checked field by field as it arrives: anything else than the API
promises (a missing field, a number as text, a list where an object belongs) is one
MalformedAnswer naming the request and the field, never a KeyError deep in a command.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Self

from minitorrent.errors import MalformedAnswer, TrackerRefused
from minitorrent.peer.http_client import Response

_MISSING: Any = object()


class Fields:
    """One JSON object of an answer, read field by field."""

    def __init__(self, value: object, what: str) -> None:
        if not isinstance(value, dict):
            raise _malformed(what, f"expected an object, got {_kind(value)}")
        self._value: dict[str, object] = value
        self._what = what

    def _get(self, key: str, default: object) -> object:
        if key in self._value:
            return self._value[key]
        if default is _MISSING:
            raise _malformed(self._what, f"'{key}' is missing")
        return default

    def text(self, key: str, default: str = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise _malformed(self._what, f"'{key}' is not text")
        return value

    def number(self, key: str, default: int = _MISSING) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _malformed(self._what, f"'{key}' is not a whole number")
        return value

    def flag(self, key: str, default: bool = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise _malformed(self._what, f"'{key}' is not true or false")
        return value

    def optional_number(self, key: str) -> int | None:
        return None if self._value.get(key) is None else self.number(key)

    def hex_bytes(self, key: str) -> bytes:
        try:
            return bytes.fromhex(self.text(key))
        except ValueError:
            raise _malformed(self._what, f"'{key}' is not hexadecimal") from None

    def base64_bytes(self, key: str) -> bytes:
        try:
            return base64.b64decode(self.text(key), validate=True)
        except (binascii.Error, ValueError):
            raise _malformed(self._what, f"'{key}' is not base64") from None

    def objects(self, key: str) -> list[Fields]:
        return objects(self._get(key, []), f"{self._what}: '{key}'")


def decode(response: Response) -> Any:
    """The JSON body of a success (None for 204); a refusal raises TrackerRefused."""
    if (response.status == 204 or not response.body) and response.is_success:
        return None
    try:
        body = json.loads(response.body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past reason
        body = None
    if response.is_success:
        return body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        raise TrackerRefused(
            body["message"], code=str(body.get("error", "error")), status=response.status
        )
    raise TrackerRefused(
        f"tracker refused the request (HTTP {response.status})", status=response.status
    )


def objects(body: object, what: str) -> list[Fields]:
    """A JSON list of objects."""
    if not isinstance(body, list):
        raise _malformed(what, f"expected a list, got {_kind(body)}")
    return [Fields(item, what) for item in body]


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _malformed(what: str, why: str) -> MalformedAnswer:
    return MalformedAnswer(f"the tracker sent a malformed answer ({what}: {why})")


@dataclass(frozen=True, slots=True)
class LoginAnswer:
    token: str
    passkey: str
    idle_ttl: float  # seconds the session lives without a request
    shared_database: bool  # whether the other trackers know the session

    @classmethod
    def parse(cls, body: object) -> Self:
        f = Fields(body, "login")
        token = f.text("token")
        # It goes back in an Authorization header, to this tracker and the others.
        if not (token.isascii() and token.isprintable()) or " " in token or not token:
            raise _malformed("login", "'token' is not a bearer token")
        return cls(
            token,
            f.text("passkey", ""),
            float(f.number("idle_ttl", 3600)),
            f.flag("shared_database", True),
        )


@dataclass(frozen=True, slots=True)
class Me:
    user_id: str
    passkey: str  # the current one, even if rotated by another process

    @classmethod
    def parse(cls, body: object) -> Self:
        f = Fields(body, "me")
        return cls(f.text("user_id"), f.text("passkey"))


@dataclass(frozen=True, slots=True)
class GroupEntry:
    group_id: str
    admin: str
    members: int
    is_member: bool
    pending: bool  # the caller asked to join

    @classmethod
    def parse(cls, f: Fields) -> Self:
        return cls(
            f.text("group_id"),
            f.text("admin"),
            f.number("members"),
            f.flag("is_member", False),
            f.flag("pending", False),
        )


@dataclass(frozen=True, slots=True)
class JoinRequest:
    user_id: str
    requested_at: str  # ISO 8601, as the tracker sent it

    @classmethod
    def parse(cls, f: Fields) -> Self:
        return cls(f.text("user_id"), f.text("requested_at"))


@dataclass(frozen=True, slots=True)
class MemberEntry:
    user_id: str
    is_admin: bool

    @classmethod
    def parse(cls, f: Fields) -> Self:
        return cls(f.text("user_id"), f.flag("is_admin", False))


@dataclass(frozen=True, slots=True)
class LogEntry:
    at: str  # ISO 8601 in UTC, as the tracker sent it
    text: str

    @classmethod
    def parse(cls, f: Fields) -> Self:
        return cls(f.text("at"), f.text("text"))


@dataclass(frozen=True, slots=True)
class FileEntry:
    name: str
    length: int
    info_hash: str
    seeders: int
    leechers: int
    file_count: int | None = None  # files in a shared folder; None for a file

    @classmethod
    def parse(cls, f: Fields) -> Self:
        return cls(
            f.text("name"),
            f.number("length"),
            f.text("info_hash"),
            f.number("seeders", 0),
            f.number("leechers", 0),
            f.optional_number("file_count"),
        )
