"""One exception tree for everything a user can be told about.

Every error carries a message that is fit to print after ``error:`` as it is.
"""

from __future__ import annotations

from minitorrent.error_codes import ErrorCode


class MinitorrentError(Exception):
    """Base of every expected, user-facing error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(MinitorrentError):
    """A command or program was called with the wrong arguments."""


class ConfigError(MinitorrentError):
    """A configuration file or option is invalid."""


class TrackerUnreachable(MinitorrentError):
    """No tracker answered."""


class MalformedAnswer(MinitorrentError):
    """The tracker answered something the client cannot read (peer/tracker_answers.py)."""


class TrackerRefused(MinitorrentError):
    """The tracker answered with an error (not logged in, no such group, ...)."""

    def __init__(self, message: str, *, code: str = ErrorCode.ERROR, status: int = 400) -> None:
        super().__init__(message)
        self.code = code  # compare with ErrorCode; a newer tracker may send codes not in it
        self.status = status


class MetainfoError(MinitorrentError):
    """An info dictionary or .torrent is malformed."""


class ProtocolError(MinitorrentError):
    """A peer broke the wire protocol; the connection must be dropped."""


class StorageError(MinitorrentError):
    """Reading or writing file data failed (disk full, file changed, ...)."""
