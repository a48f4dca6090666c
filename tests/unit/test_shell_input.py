"""How the interactive shell reads a half-typed line (completion) and which lines carry
a password (asked without echo, never kept in the history)."""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

import pytest

from minitorrent.client.completion import quote_word, split_partial
from minitorrent.client.history import ShellHistory
from minitorrent.client.passwords import carries_password


class _Command:
    def __init__(self, *args: str) -> None:
        self.args = args


COMMANDS = {
    "login": _Command("user_id", "password"),
    "create_user": _Command("user_id", "password"),
    "list_files": _Command("group_id"),
}


@pytest.mark.parametrize(
    ("text", "words", "partial", "start"),
    [
        ("", [], "", 0),
        ("list_gr", [], "list_gr", 0),
        ("list_files ", ["list_files"], "", 11),
        ("list_files  la", ["list_files"], "la", 12),
        ('download_file lab "my fi', ["download_file", "lab"], "my fi", 18),
        ("upload_file my\\ fi", ["upload_file"], "my fi", 12),
        ("upload_file 'a b' c", ["upload_file", "a b"], "c", 18),
        ("upload_file x\\", ["upload_file"], "x", 12),
    ],
)
def test_split_partial(text: str, words: list[str], partial: str, start: int) -> None:
    assert split_partial(text) == (words, partial, start)


@pytest.mark.parametrize("word", ["lab", "notes.txt", "~/data/x.bin", "my file", "it's", "#x"])
def test_a_completed_word_reads_back_as_itself(word: str) -> None:
    assert shlex.split(quote_word(word)) == [word]
    if word in ("lab", "notes.txt", "~/data/x.bin"):
        assert quote_word(word) == word  # no quotes where none are needed


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("login alice pa55", True),
        ("LOGIN alice pa55", True),
        ("create_user alice 'pass phrase'", True),
        ('login alice "unbalanced', True),
        ("login alice", False),
        ("create_user alice", False),
        ("list_files lab", False),
        ("", False),
    ],
)
def test_which_lines_carry_a_password(line: str, secret: bool) -> None:
    assert carries_password(line, COMMANDS) is secret


def test_history_drops_password_lines_and_is_private(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    path = directory / "history"
    path.write_text("\n# t\n+login alice pa55\n\n# t\n+list_files lab\n\n# t\n+echo a\n+b\n")
    path.chmod(0o644)
    history = ShellHistory(path, lambda line: carries_password(line, COMMANDS))
    assert list(history.history.load_history_strings()) == ["echo a\nb", "list_files lab"]
    assert "pa55" not in path.read_text()
    history.history.store_string("create_user bob")
    history.close()
    assert path.read_text().endswith("+create_user bob\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
