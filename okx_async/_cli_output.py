"""What the commands print: tables that never cut a value, and one JSON convention.

Tables: amounts, IDs and currency codes are *rigid* columns, never elided or wrapped
inside a value; other columns (labels, types, times, messages) fold. When the rigid
columns and the others at a readable width do not fit the console (a narrow
terminal, or 80 columns when piped), each row is printed as a block of
``name: value`` lines instead.

JSON (``--json``): snake_case names as the library's models have them, amounts as
exact decimal strings (never ``1E-8``), times as ISO-8601 in UTC, ``null`` where
there is nothing (no loan order).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from ._params import plain_amount

#: The narrowest a folding column gets before rows turn into blocks of lines.
_FOLD_FLOOR = 10


@attrs.frozen
class Column:
    """A table column. ``rigid``: amounts, IDs, codes; printed whole on one line."""

    header: str
    rigid: bool = True
    right: bool = False


def money(value: Decimal) -> str:
    """An amount exactly as OKX sent it, in plain notation."""
    return plain_amount(value)


def percent(fraction: Decimal) -> str:
    """A fraction (``0.0136``) as an exact percentage (``1.36%``)."""
    return f"{plain_amount((fraction * 100).normalize())}%"


def utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def fits(width: int, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> bool:
    """Whether the table fits ``width`` with rigid columns whole and others readable."""
    needed = 3 * len(columns) + 1  # a border and two spaces of padding per column
    for i, column in enumerate(columns):
        longest = max([len(column.header), *(len(row[i]) for row in rows)])
        needed += longest if column.rigid else min(longest, _FOLD_FLOOR)
    return needed <= width


def print_table(
    console: Console, title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]]
) -> None:
    """Print ``rows`` under ``title``: a table if it fits the console, else blocks of lines."""
    if fits(console.width, columns, rows):
        console.print(_table(title, columns, rows))
        return
    # Narrow: each row a block, its first value as the heading and the others one per
    # line, each whole. Nothing is cut or broken by us.
    console.print(Text(title, style="bold"))  # words, so it may wrap between them
    label = max(len(column.header) for column in columns[1:]) if len(columns) > 1 else 0
    for row in rows:
        console.print()
        line(console, f"{columns[0].header} {row[0]}".strip())
        for column, cell in zip(columns[1:], row[1:], strict=True):
            line(console, f"  {column.header:<{label}}  {cell}".rstrip())


def _table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title)
    for i, column in enumerate(columns):
        justify: JustifyMethod = "right" if column.right else "left"
        if column.rigid:
            width = max([len(column.header), *(len(row[i]) for row in rows)])
            # min_width keeps the value whole: print_table only draws tables that fit.
            table.add_column(column.header, justify=justify, no_wrap=True, min_width=width)
        else:
            table.add_column(column.header, justify=justify, overflow="fold")
    for row in rows:
        # Text, not str: what OKX sends is not rich markup.
        table.add_row(*(Text(cell) for cell in row))
    return table


def as_json(value: object) -> Any:
    """A result as JSON data: models field by field, amounts exact, times ISO-8601."""
    if attrs.has(type(value)):
        fields = attrs.asdict(value, recurse=False)  # type: ignore[arg-type]
        return {name: as_json(field) for name, field in fields.items()}
    if isinstance(value, dict):
        return {str(key): as_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    if isinstance(value, Decimal):
        return plain_amount(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def print_json(value: object) -> None:
    """Print ``value`` as indented JSON on stdout."""
    print(json.dumps(as_json(value), indent=2), file=sys.stdout, flush=True)


def line(console: Console, text: str, style: str = "") -> None:
    """One line as written: never wrapped, never read as rich markup."""
    console.print(Text(text, style=style), soft_wrap=True, highlight=False)
