"""The Flexible Loan subcommands of ``okx-async``: parsers, one runner each, tables and JSON.

:mod:`okx_async._cli` owns the connection (keys or ``--simulator``, region, Redis)
and hands each runner a ready client.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._client import OkxClient
from ._errors import OkxUnknownOutcomeError
from ._params import MAX_PAGE, check_amount, check_ccy

T = TypeVar("T")

#: Subcommands that read; ``adjust-collateral`` is the one write.
READS = ("loan-info", "collateral", "max-loan", "history", "interest")
WRITE = "adjust-collateral"
COMMANDS = (*READS, WRITE)


def add_commands(
    commands: Any, add_connection_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add the Flexible Loan subcommands; each gets the shared connection options."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=help_text, description=help_text + ". Reads OKX_API_KEY, "
            "OKX_SECRET_KEY and OKX_PASSPHRASE unless --simulator is given.",
        )
        add_connection_options(parser)
        return parser

    command("loan-info", "the loan, the collateral, LTVs and liquidation price")
    collateral = command("collateral", "the account's collateral assets and their USD value")
    collateral.add_argument("--ccy", help="only this currency")
    max_loan = command("max-loan", "how much more a currency could be borrowed")
    max_loan.add_argument("borrow_ccy", metavar="BORROW_CCY", help="the currency to borrow")
    max_loan.add_argument(
        "--with", dest="sup", action="append", default=[], metavar="CCY=AMOUNT",
        help="count this extra collateral too (repeatable)",
    )
    for name, what in (("history", "loan events"), ("interest", "interest accrued")):
        paged = command(name, f"{what}, newest first, walking every page")
        if name == "history":
            paged.add_argument("--type", help="only this event type, e.g. collateral_released")
        else:
            paged.add_argument("--ccy", help="only this loan currency")
        paged.add_argument("--limit", type=int, help="at most this many records")
        paged.add_argument(
            "--since", type=_since, metavar="ISO-DATE",
            help="only records at or after this time (UTC unless it says otherwise)",
        )
    adjust = command(WRITE, "add or release collateral (Trade permission; not idempotent)")
    adjust.add_argument("type", choices=["add", "reduce"], help="add or reduce (release)")
    adjust.add_argument("collateral_ccy", metavar="CCY", help="the collateral currency")
    adjust.add_argument("collateral_amt", metavar="AMOUNT", help="how much, e.g. 0.05")
    adjust.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def confirm_write(args: argparse.Namespace, err: Console) -> bool:
    """Check the write's arguments, then ask unless ``--yes``; False means do nothing."""
    ccy = check_ccy(args.collateral_ccy, "CCY")
    amount = check_amount(args.collateral_amt, "AMOUNT")
    if args.yes:
        return True
    verb = "Add" if args.type == "add" else "Release"
    if not sys.stdin.isatty():
        err.print(f"refusing to {args.type} collateral without confirmation: pass --yes")
        return False
    err.print(f"{verb} {amount} {ccy} of collateral? This changes your loan. [y/N] ", end="")
    return input().strip().lower() in ("y", "yes")


async def run(args: argparse.Namespace, client: OkxClient) -> int:
    """Run one Flexible Loan subcommand; the exit code."""
    out = Console()
    if args.command == "loan-info":
        orders = await client.loan_info()
        return _emit(args, orders, lambda: _orders_table(orders))
    if args.command == "collateral":
        assets = await client.collateral_assets(args.ccy)
        return _emit(args, assets, lambda: _rows(
            "Collateral", ["Currency", "Amount", "USD value"],
            [[a.ccy, a.amt, a.notional_usd] for a in assets],
        ))
    if args.command == "max-loan":
        extra = [_pair(item) for item in args.sup] or None
        headroom = await client.max_loan(args.borrow_ccy, extra)
        return _emit(args, headroom, lambda: _rows(
            "Borrow headroom", ["Currency", "Max loan", "USD value", "Remaining quota"],
            [] if headroom is None else [[headroom.borrow_ccy, headroom.max_loan,
                                          headroom.notional_usd, headroom.remaining_quota]],
        ))
    if args.command == "history":
        entries = await _collect(
            client.iter_loan_history(args.type, page_size=_page(args.limit)), args
        )
        return _emit(args, entries, lambda: _rows(
            "Loan history", ["Ref id", "Time (UTC)", "Type", "Currency", "Amount"],
            [[e.ref_id, _time(e.ts), e.type, e.ccy, e.amt] for e in entries],
        ))
    if args.command == "interest":
        records = await _collect(
            client.iter_interest_accrued(args.ccy, page_size=_page(args.limit)), args
        )
        return _emit(args, records, lambda: _rows(
            "Interest accrued", ["Ref id", "Time (UTC)", "Currency", "Loan", "Interest", "Rate"],
            [[r.ref_id, _time(r.ts), r.ccy, r.loan, r.interest, r.interest_rate]
             for r in records],
        ))
    try:
        await client.adjust_collateral(args.type, args.collateral_ccy, args.collateral_amt)
    except OkxUnknownOutcomeError as exc:
        Console(stderr=True).print(Text.assemble(
            ("outcome unknown:", "red"), f" {exc.__cause__}. The request was not resent. "
            "Check `okx-async history --limit 5` before trying again.",
        ), soft_wrap=True, highlight=False)
        return 3
    verb = "Added" if args.type == "add" else "Released"
    out.print(Text(f"{verb} {check_amount(args.collateral_amt)} {args.collateral_ccy} "
                   "of collateral."), highlight=False)
    return 0


def _pair(text: str) -> tuple[str, str]:
    ccy, sep, amount = text.partition("=")
    if not sep:
        raise ValueError(f"--with takes CCY=AMOUNT, got {text!r:.40}")
    return ccy, amount


def _page(limit: int | None) -> int:
    if limit is not None and limit < 1:
        raise ValueError("--limit must be at least 1")
    return min(limit or MAX_PAGE, MAX_PAGE)


async def _collect(entries: AsyncIterator[T], args: argparse.Namespace) -> list[T]:
    """Walk pages until ``--limit`` records or one older than ``--since``."""
    collected: list[T] = []
    async for entry in entries:
        if args.since is not None and getattr(entry, "ts") < args.since:  # noqa: B009
            break
        collected.append(entry)
        if args.limit is not None and len(collected) >= args.limit:
            break
    return collected


def _emit(args: argparse.Namespace, value: object, table: Callable[[], Table]) -> int:
    if args.json:
        print(json.dumps(as_json(value), indent=2))
    else:
        Console().print(table())
    return 0


def as_json(value: object) -> Any:
    """Models as JSON: snake_case fields, amounts as exact strings, times as ISO-8601."""
    if attrs.has(type(value)):
        fields = attrs.asdict(value, recurse=False)  # type: ignore[arg-type]
        return {name: as_json(field) for name, field in fields.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _time(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def _rows(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        # Text, not str: what OKX sends is not rich markup.
        table.add_row(*(Text(str(cell)) for cell in row))
    return table


def _orders_table(orders: Sequence[Any]) -> Table:
    table = Table(title="Flexible Loan orders", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")

    def row(label: str, value: object) -> None:
        table.add_row(Text(label), Text(str(value)))

    if not orders:
        row("No loan order", "")
    for info in orders:
        _order_rows(info, row)
    return table


def _order_rows(info: Any, row: Callable[[str, object], None]) -> None:
    row("Order", info.ord_id)
    row("Loan (USD)", info.loan_notional_usd)
    for item in info.loan_data:
        row(f"  borrowed {item.ccy}", item.amt)
    row("Collateral (USD)", info.collateral_notional_usd)
    for item in info.collateral_data:
        row(f"  {item.ccy}", item.amt)
    row("Current LTV", f"{info.cur_ltv:%}")
    row("Margin call LTV", f"{info.margin_call_ltv:%}")
    row("Liquidation LTV", f"{info.liq_ltv:%}")
    if info.risk_warning is not None:
        row(f"Liquidation price {info.risk_warning.inst_id}", info.risk_warning.liq_px)
