"""Domain errors raised by the services; the web layer maps each class to one HTTP status.

Every error carries a machine ``code`` (stable, for clients) and a human ``message``
(one sentence, fit to print after ``error:``).
"""

from __future__ import annotations

from minitorrent.errors import MinitorrentError


class DomainError(MinitorrentError):
    """A request broke a rule of the tracker."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class NotFound(DomainError):
    default_code = "not_found"


class Conflict(DomainError):
    default_code = "conflict"


class Forbidden(DomainError):
    default_code = "forbidden"


class Unauthorized(DomainError):
    default_code = "unauthorized"


class Invalid(DomainError):
    default_code = "invalid"


class TooManyAttempts(DomainError):
    default_code = "too_many_attempts"

    def __init__(self, retry_after: int, what: str = "failed logins") -> None:
        super().__init__(f"too many {what}; try again in {retry_after} s")
        self.retry_after = retry_after


def not_logged_in() -> Unauthorized:
    return Unauthorized("not logged in (or session expired)", code="not_logged_in")
