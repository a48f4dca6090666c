"""Helpers of the end-to-end tests: the client's plain output, the account and group commands."""

from __future__ import annotations


def table(out: list[str]) -> list[list[str]]:
    """The rows of a plain table (header dropped), each split into its words."""
    return [line.split() for line in out[1:] if line.strip()]


def groups_view(out: list[str]) -> dict[str, tuple[str, str, int]]:
    """list_groups output as {group: (mark, admin, members)}; mark is '*', '?' or ''."""
    view = {}
    for words in table(out):
        mark = words.pop(0) if len(words) == 4 else ""
        group, admin, members = words
        view[group] = (mark, admin, int(members))
    return view


def members_view(out: list[str]) -> dict[str, str]:
    """list_members output as {user: role}; role is 'admin' or ''."""
    return {words[0]: " ".join(words[1:]) for words in table(out)}


# The account and group commands with their usage, and whether
# they need a logged-in user.
COMMANDS: dict[str, tuple[str, bool]] = {
    "create_user": ("create_user <user_id> <password>", False),
    "login": ("login <user_id> <password>", False),
    "logout": ("logout", True),
    "create_group": ("create_group <group_id>", True),
    "join_group": ("join_group <group_id>", True),
    "leave_group": ("leave_group <group_id>", True),
    "list_requests": ("list_requests <group_id>", True),
    "accept_request": ("accept_request <group_id> <user_id>", True),
    "reject_request": ("reject_request <group_id> <user_id>", True),
    "list_groups": ("list_groups", True),
    "list_members": ("list_members <group_id>", True),
    "remove_member": ("remove_member <group_id> <user_id>", True),
    "help": ("help [<command>]", False),
    "quit": ("quit", False),
}


def call(usage: str, extra: int = 0) -> str:
    """A command line for `usage` with plausible arguments, `extra` more (or fewer)."""
    name, *params = usage.split()
    count = len(params) + extra
    args = [f"arg{i}" for i in range(max(count, 0))]
    return " ".join([name, *args])
