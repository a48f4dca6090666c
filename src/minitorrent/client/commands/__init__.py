"""The shell's commands, one method each, by topic: each checks its arguments, talks to
the tracker and the peer node, returns a typed result (client/results.py) for the shell
to render, and raises MinitorrentError to refuse."""

from __future__ import annotations

from minitorrent.client.commands.accounts import AccountCommands
from minitorrent.client.commands.base import percent, usage_error
from minitorrent.client.commands.downloads import DownloadCommands
from minitorrent.client.commands.files import FileCommands
from minitorrent.client.commands.groups import GroupCommands

__all__ = ["Client", "percent", "usage_error"]


class Client(AccountCommands, GroupCommands, FileCommands, DownloadCommands):
    """The commands of one client process (one person's session)."""
