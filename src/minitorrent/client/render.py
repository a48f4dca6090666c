"""A command's result as text: which lines, and on which stream each goes.

Answers (`Done`, tables) go to standard output; a `Notice` goes to standard error
after ``notice: ``. On a terminal tables are drawn by rich; otherwise as plain
columns, so that scripts can read them.
"""

from __future__ import annotations

import enum
from typing import TextIO

from minitorrent.client.results import Done, Line, Notice, Result, Table

NOTICE = "notice: "


class Stream(enum.Enum):
    OUT = "stdout"
    ERR = "stderr"


def plain_lines(result: Result) -> list[tuple[Stream, str]]:
    """Every line of a result as script mode prints it, with its stream."""
    if result is None:
        return []
    if isinstance(result, Table):
        heading = [result.heading] if result.heading else []
        return [(Stream.OUT, line) for line in heading + table_lines(result)]
    if isinstance(result, Done | Notice):
        return [line_of(result)]
    return [line_of(line) for line in result]


def line_of(line: Line) -> tuple[Stream, str]:
    if isinstance(line, Notice):
        return Stream.ERR, NOTICE + line.text
    return Stream.OUT, line.text


def table_lines(table: Table) -> list[str]:
    """Plain columns, two spaces apart, no trailing blanks; `empty` if it has no rows."""
    if not table.rows:
        return [table.empty]
    widths = [len(h) for h in table.headers]
    for row in table.rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [table.headers, *table.rows]
    ]


def render(result: Result, out: TextIO, err: TextIO, *, rich: bool) -> None:
    """Print a result; `rich` draws a table with rich (interactive terminals)."""
    if rich and isinstance(result, Table) and result.rows:
        if result.heading:
            print(result.heading, file=out, flush=True)
        _print_rich(result, out)
        return
    for stream, text in plain_lines(result):
        print(text, file=err if stream is Stream.ERR else out, flush=True)


def _print_rich(table: Table, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    rich_table = RichTable(*table.headers)
    for row in table.rows:
        rich_table.add_row(*row)
    Console(file=out).print(rich_table)
