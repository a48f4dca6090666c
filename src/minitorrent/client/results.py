"""What a command answers, as data: the shell (client/render.py) turns it into lines
and decides where each goes. Commands never format for a stream themselves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Done:
    """A line saying what the command did or found; standard output."""

    text: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know that is not the answer (a share dropped, entries
    skipped); standard error, after ``notice: ``, so that scripts' output stays clean."""

    text: str


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under headers; `empty` is said instead when there are no rows."""

    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    empty: str = "(none)"
    heading: str = ""  # a line shown above the table


Line = Done | Notice
Result = Line | Table | Sequence[Line] | None
