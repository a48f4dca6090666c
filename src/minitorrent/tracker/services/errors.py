"""Domain errors raised by the services; the web layer maps each class to one HTTP status.

Every error carries a machine ``code`` (stable, for clients: ``minitorrent/error_codes.py``)
and a human ``message`` (one sentence, fit to print after ``error:``).
"""

from __future__ import annotations

from minitorrent.error_codes import ErrorCode
from minitorrent.errors import MinitorrentError


class DomainError(MinitorrentError):
    """A request broke a rule of the tracker."""

    default_code: ErrorCode = ErrorCode.ERROR

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class NotFound(DomainError):
    default_code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    default_code = ErrorCode.CONFLICT


class Forbidden(DomainError):
    default_code = ErrorCode.FORBIDDEN


class Unauthorized(DomainError):
    default_code = ErrorCode.UNAUTHORIZED


class Invalid(DomainError):
    default_code = ErrorCode.INVALID


class TooManyAttempts(DomainError):
    default_code = ErrorCode.TOO_MANY_ATTEMPTS

    def __init__(self, retry_after: int, what: str = "failed logins") -> None:
        super().__init__(f"too many {what}; try again in {retry_after} s")
        self.retry_after = retry_after


def not_logged_in() -> Unauthorized:
    return Unauthorized("not logged in (or session expired)", code=ErrorCode.NOT_LOGGED_IN)
