"""Part of a folder: what --only patterns select, the pieces they need, their words."""

from __future__ import annotations

import pytest

from minitorrent.client.only import parse_only
from minitorrent.errors import MinitorrentError, UsageError
from minitorrent.file_list import FileEntry
from minitorrent.selection import (
    boundary_pieces,
    decode_patterns,
    encode_patterns,
    select_files,
    wanted_pieces,
)

FILES = [
    FileEntry(("readme.txt",), 10),
    FileEntry(("week1", "a.pdf"), 10),
    FileEntry(("week1", "sub", "b.mp4"), 10),
    FileEntry(("week2", "c.pdf"), 10),
    FileEntry(("week2", "week1"), 10),
    FileEntry(("empty",), 0),
]


@pytest.mark.parametrize(
    ("patterns", "chosen"),
    [
        (["week1/*"], [1, 2]),  # * stays in one name, but a matched folder brings all
        (["week1"], [1, 2, 4]),  # no /: a name at any depth, file or folder
        (["/week1"], [1, 2]),  # anchored at the top
        (["*.pdf"], [1, 3]),
        (["week1/*.pdf"], [1]),
        (["**/b.mp4"], [2]),
        (["w*/*.p?f"], [1, 3]),
        (["week[!1]/*"], [3, 4]),
        (["week1/*", "*.pdf"], [1, 2, 3]),
        (["empty"], [5]),
    ],
)
def test_what_patterns_select(patterns: list[str], chosen: list[int]) -> None:
    assert select_files(FILES, patterns) == chosen


def test_star_does_not_cross_a_slash() -> None:
    with pytest.raises(MinitorrentError, match=r"^--only 'week\*b\.mp4' matches no file"):
        select_files(FILES, ["week*b.mp4"])


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("nothing*", r"^--only 'nothing\*' matches no file of the folder$"),
        ("/", r"^--only '/': an empty pattern selects nothing$"),
        ("[z-a]", r"^--only '\[z-a\]' is not a valid pattern"),
    ],
)
def test_bad_patterns_are_named(pattern: str, error: str) -> None:
    with pytest.raises(MinitorrentError, match=error):
        select_files(FILES, ["*.pdf", pattern])


def test_pieces_of_the_wanted_files_and_the_shared_ones() -> None:
    files = [FileEntry(("a",), 10), FileEntry(("b",), 25), FileEntry(("c",), 5)]
    # Pieces of 16 bytes: a [0,10) b [10,35) c [35,40); pieces 0, 1, 2.
    assert wanted_pieces(files, 16, [2]) == {2}
    assert wanted_pieces(files, 16, [0]) == {0}
    assert boundary_pieces(files, 16, [0]) == {0}  # a shares piece 0 with b
    assert boundary_pieces(files, 16, [1]) == {0, 2}
    assert boundary_pieces(files, 16, [0, 1, 2]) == set()


def test_patterns_are_stored_as_given() -> None:
    assert encode_patterns([]) is None
    assert decode_patterns(encode_patterns(["a b/*", "*.pdf"])) == ["a b/*", "*.pdf"]
    with pytest.raises(ValueError):
        decode_patterns('{"not": "a list"}')


def test_only_words() -> None:
    assert parse_only([]) == []
    assert parse_only(["--only", "week1/*", "--only=*.pdf"]) == ["week1/*", "*.pdf"]
    with pytest.raises(UsageError, match=r"^--only needs a pattern; usage: download_file"):
        parse_only(["--only"])
    with pytest.raises(UsageError, match=r"^unexpected argument '--all'; usage: download_file"):
        parse_only(["--all"])
