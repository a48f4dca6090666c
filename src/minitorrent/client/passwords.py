"""Which command lines carry a password: those are asked for without echo on a terminal
and never kept in the shell's history."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Protocol

PASSWORD = "password"  # the name of the argument that holds one


class Parameters(Protocol):
    @property
    def args(self) -> tuple[str, ...]: ...


def password_position(command: Parameters) -> int | None:
    """Where the command takes a password among its arguments, if it does."""
    return command.args.index(PASSWORD) if PASSWORD in command.args else None


def carries_password(line: str, commands: Mapping[str, Parameters]) -> bool:
    """Whether the line gives a password: a command that takes one (its name in any
    case), with at least as many words as reach it. Lines that do not parse are split
    at blanks, so that an unbalanced quote does not let a password through."""
    words: Sequence[str]
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    if not words:
        return False
    command = commands.get(words[0].lower())
    position = password_position(command) if command is not None else None
    return position is not None and len(words) > position + 1
