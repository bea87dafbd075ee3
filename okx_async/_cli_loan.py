"""The Flexible Loan reads: ``loan-info``, ``collateral``, ``max-loan``, ``history``, ``interest``.

Each prints a table, or the library's models as JSON with ``--json``
(:mod:`okx_async._cli_output`). "No loan order" is an ordinary state: a line
saying so (``[]`` or ``null`` in JSON) and exit code 0.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

from ._cli_args import ccy, ccy_amount, count, history_type, ord_id, page_size, since
from ._cli_command import Command
from ._cli_exit import OK, NotFound
from ._cli_output import Column, money, percent, print_json, print_table, utc
from ._cli_session import Session
from ._models import LoanOrder

T = TypeVar("T")

_ORD_ID_HELP = "this loan order only (okx-async loan-info lists them)"
_EARLIEST = "the earliest loan order"


def _order_flag(parser: argparse.ArgumentParser, help_text: str = _ORD_ID_HELP) -> None:
    parser.add_argument("--ord-id", type=ord_id, metavar="ORD_ID", help=help_text)


def _which(args: argparse.Namespace) -> str:
    return _EARLIEST if args.ord_id is None else f"loan order {args.ord_id}"


def _nothing(session: Session, text: str) -> int:
    session.out.print(text, highlight=False)
    return OK


# loan-info -------------------------------------------------------------------------------


async def _loan_info(args: argparse.Namespace, session: Session) -> int:
    orders = await session.client.loan_info(ord_id=args.ord_id)
    if args.json:
        print_json(orders)
        return OK
    if not orders:
        return _nothing(session, "No loan order.")
    for order in orders:
        print_table(session.out, f"Loan order {order.ord_id}", _ORDER_COLUMNS, _order_rows(order))
    return OK


_ORDER_COLUMNS = (Column("", rigid=False), Column("Amount", right=True), Column("Unit"))


def _order_rows(order: LoanOrder) -> list[list[str]]:
    rows = [["Loan value", money(order.loan_notional_usd), "USD"]]
    rows += [["Borrowed" if i == 0 else "", money(item.amt), item.ccy]
             for i, item in enumerate(order.loan_data)]
    rows.append(["Collateral value", money(order.collateral_notional_usd), "USD"])
    rows += [["Collateral" if i == 0 else "", money(item.amt), item.ccy]
             for i, item in enumerate(order.collateral_data)]
    rows += [
        ["Current LTV", percent(order.cur_ltv), ""],
        ["Margin call LTV", percent(order.margin_call_ltv), ""],
        ["Liquidation LTV", percent(order.liq_ltv), ""],
    ]
    if order.risk_warning is not None:
        rows.append(
            ["Liquidation price", money(order.risk_warning.liq_px), order.risk_warning.inst_id]
        )
    return rows


# collateral ------------------------------------------------------------------------------


async def _collateral(args: argparse.Namespace, session: Session) -> int:
    assets = await session.client.collateral_assets(args.ccy, ord_id=args.ord_id)
    # An empty answer is both "no such collateral" and "no order": tell them apart.
    if not assets and args.ccy is not None and await session.client.loan_info(
        ord_id=args.ord_id
    ):
        default = "" if args.ord_id else " (OKX's choice without --ord-id)"
        raise NotFound(f"no {args.ccy} in the collateral of {_which(args)}{default}")
    if args.json:
        print_json(assets)
        return OK
    if not assets:
        return _nothing(session, "No loan order: no collateral.")
    print_table(
        session.out, f"Collateral of {_which(args)}",
        [Column("Currency"), Column("Amount", right=True), Column("USD value", right=True)],
        [[a.ccy, money(a.amt), money(a.notional_usd)] for a in assets],
    )
    return OK


# max-loan --------------------------------------------------------------------------------


async def _max_loan(args: argparse.Namespace, session: Session) -> int:
    headroom = await session.client.max_loan(
        args.borrow_ccy, dict(args.sup) or None, ord_id=args.ord_id
    )
    if args.json:
        print_json(headroom)
        return OK
    if headroom is None:
        return _nothing(session, "No loan order: max-loan answers for an open order.")
    print_table(
        session.out, f"Borrow headroom of {_which(args)}",
        [Column("Currency"), Column("Max loan", right=True), Column("USD value", right=True),
         Column("Remaining quota", right=True)],
        [[headroom.borrow_ccy, money(headroom.max_loan), money(headroom.notional_usd),
          money(headroom.remaining_quota)]],
    )
    return OK


# history and interest --------------------------------------------------------------------


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


async def _history(args: argparse.Namespace, session: Session) -> int:
    entries = await _collect(session.client.iter_loan_history(
        args.type, page_size=page_size(args.limit), ord_id=args.ord_id
    ), args)
    return _records(args, session, entries, title="Loan history", columns=[
        Column("Ref id"), Column("Time (UTC)", rigid=False), Column("Type", rigid=False),
        Column("Currency"), Column("Amount", right=True),
    ], rows=[[e.ref_id, utc(e.ts), e.type, e.ccy, money(e.amt)] for e in entries])


async def _interest(args: argparse.Namespace, session: Session) -> int:
    records = await _collect(session.client.iter_interest_accrued(
        args.ccy, page_size=page_size(args.limit), ord_id=args.ord_id
    ), args)
    return _records(args, session, records, title="Interest accrued", columns=[
        Column("Ref id"), Column("Time (UTC)", rigid=False), Column("Currency"),
        Column("Loan", right=True), Column("Interest", right=True), Column("Rate", right=True),
    ], rows=[
        [r.ref_id, utc(r.ts), r.ccy, money(r.loan), money(r.interest), money(r.interest_rate)]
        for r in records
    ])


def _records(
    args: argparse.Namespace,
    session: Session,
    found: Sequence[object],
    *,
    title: str,
    columns: Sequence[Column],
    rows: list[list[str]],
) -> int:
    if args.json:
        print_json(found)
        return OK
    if not found:
        return _nothing(session, f"{title}: no records.")
    print_table(session.out, title, columns, rows)
    return OK


# The parsers -----------------------------------------------------------------------------


def _order_only(parser: argparse.ArgumentParser) -> None:
    _order_flag(parser)


def _collateral_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ccy", type=ccy, help="only this currency")
    _order_flag(parser, "this loan order (default: OKX's choice, the earliest)")


def _max_loan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("borrow_ccy", metavar="BORROW_CCY", type=ccy,
                        help="the currency to borrow")
    parser.add_argument(
        "--with", dest="sup", action="append", default=[], type=ccy_amount,
        metavar="CCY=AMOUNT", help="count this extra collateral too (repeatable)",
    )
    _order_flag(parser, "this loan order (default: OKX's choice, the earliest)")


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=count, help="at most this many records")
    parser.add_argument(
        "--since", type=since, metavar="ISO-DATE",
        help="only records at or after this time (UTC unless it says otherwise)",
    )
    _order_flag(parser)


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", type=history_type,
                        help="only this event type, e.g. collateral_released")
    _paging(parser)


def _interest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ccy", type=ccy, help="only this loan currency")
    _paging(parser)


COMMANDS = (
    Command("loan-info", "every loan order: its loan, collateral, LTVs and liquidation price",
            _order_only, _loan_info),
    Command("collateral", "a loan order's collateral and its USD value",
            _collateral_arguments, _collateral),
    Command("max-loan", "how much more a loan order could borrow",
            _max_loan_arguments, _max_loan),
    Command("history", "loan events, newest first, walking every page",
            _history_arguments, _history),
    Command("interest", "interest accrued, newest first, walking every page",
            _interest_arguments, _interest),
)
