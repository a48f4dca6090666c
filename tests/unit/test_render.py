"""A command's result as the shell prints it: which lines, on which stream."""

from __future__ import annotations

import io

from minitorrent.client.render import Stream, plain_lines, render
from minitorrent.client.results import Done, Line, Notice, Table


def test_an_answer_goes_to_standard_output_and_a_notice_to_standard_error() -> None:
    result: list[Line] = [
        Done("logged in as 'ann'"),
        Notice("no longer sharing [g] a.txt: it is gone"),
    ]
    assert plain_lines(result) == [
        (Stream.OUT, "logged in as 'ann'"),
        (Stream.ERR, "notice: no longer sharing [g] a.txt: it is gone"),
    ]


def test_a_line_starting_like_a_notice_is_still_an_answer() -> None:
    # `echo notice: x` prints on standard output: the stream follows the type, not the text.
    assert plain_lines(Done("notice: x")) == [(Stream.OUT, "notice: x")]


def test_a_table_is_aligned_columns_without_trailing_blanks() -> None:
    table = Table(("", "group", "admin"), [("*", "physics", "ann"), ("", "c", "bob")])
    assert plain_lines(table) == [
        (Stream.OUT, "   group    admin"),
        (Stream.OUT, "*  physics  ann"),
        (Stream.OUT, "   c        bob"),
    ]


def test_an_empty_table_says_so() -> None:
    assert plain_lines(Table(("name",), [], empty="no files shared")) == [
        (Stream.OUT, "no files shared")
    ]


def test_nothing_prints_nothing() -> None:
    assert plain_lines(None) == []


def test_render_writes_each_line_to_its_stream_in_order() -> None:
    out, err = io.StringIO(), io.StringIO()
    render([Done("a"), Notice("b"), Done("c")], out, err, rich=False)
    assert out.getvalue() == "a\nc\n"
    assert err.getvalue() == "notice: b\n"


def test_a_rich_table_goes_to_standard_output() -> None:
    out, err = io.StringIO(), io.StringIO()
    render(Table(("group",), [("physics",)]), out, err, rich=True)
    assert "physics" in out.getvalue() and err.getvalue() == ""
