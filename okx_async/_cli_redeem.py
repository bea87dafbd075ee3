"""``okx-async max-redeem``: how much collateral can be taken out, per currency and order."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

import attrs
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ._cli_args import ccy, ord_id
from ._cli_command import Command
from ._cli_exit import FAILED, OK, UsageError, error_fields, stop_on_fatal
from ._cli_output import Column, money, print_json, print_table
from ._cli_session import Session
from ._errors import OkxBatchError
from ._models import MaxCollateralRedeemAmount

#: Up to one burst of the rule comes back at once; more than that is worth a bar.
_PROGRESS_ABOVE = 5


@attrs.frozen
class Row:
    """One currency of one order: its amount (``None``: no order), or why it failed."""

    ord_id: str | None
    ccy: str
    result: MaxCollateralRedeemAmount | None = None
    error: BaseException | None = None


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ccys", nargs="*", metavar="CCY", type=ccy, help="currency codes, e.g. USDT BTC"
    )
    parser.add_argument(
        "--all", action="store_true",
        help="every collateral currency of every loan order (of --ord-id's alone, with it)",
    )
    parser.add_argument(
        "--ord-id", type=ord_id, metavar="ORD_ID",
        help="ask this loan order (default: OKX's choice, the earliest)",
    )


def _check(args: argparse.Namespace) -> None:
    if bool(args.ccys) == args.all:
        raise UsageError("give currency codes or --all (one of the two)")


async def _run(args: argparse.Namespace, session: Session) -> int:
    ccys = list(dict.fromkeys(args.ccys))
    show = session.err.is_terminal and (args.all or len(ccys) > _PROGRESS_ABOVE)
    progress = Progress(
        TextColumn("max-redeem"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=session.err, transient=True, disable=not show,
    )
    with progress:
        task = progress.add_task("", total=None if args.all else len(ccys))
        rows = await _query(args, session, ccys, lambda _key, _outcome: progress.advance(task))
    if args.json:
        print_json({
            "results": [
                {"ord_id": row.ord_id, "ccy": row.ccy,
                 "max_redeem_amt": None if row.result is None else row.result.max_redeem_amt}
                for row in rows if row.error is None
            ],
            "errors": [
                {"ord_id": row.ord_id, "ccy": row.ccy, **error_fields(row.error)}
                for row in rows if row.error is not None
            ],
        })
    else:
        _print(args, session, rows)
    return FAILED if any(row.error is not None for row in rows) else OK


async def _query(
    args: argparse.Namespace,
    session: Session,
    ccys: list[str],
    advance: Callable[[object, object], None],
) -> list[Row]:
    client = session.client
    if args.all and args.ord_id is None:
        by_order: Mapping[tuple[str, str], MaxCollateralRedeemAmount]
        errors: Mapping[tuple[str, str], BaseException] = {}
        try:
            by_order = await stop_on_fatal(
                lambda on: client.max_collateral_redeem_amounts_by_order(on_result=on), advance
            )
        except OkxBatchError as exc:
            by_order, errors = exc.results, exc.errors
        # Failures after the successes: a table reads best with them together.
        return [Row(o, c, result=r) for (o, c), r in by_order.items()] + [
            Row(o, c, error=e) for (o, c), e in errors.items()
        ]
    one_order: Mapping[str, MaxCollateralRedeemAmount | None]
    failed: Mapping[str, BaseException] = {}
    try:
        one_order = await stop_on_fatal(
            lambda on: client.max_collateral_redeem_amounts(
                None if args.all else ccys, ord_id=args.ord_id, on_result=on
            ),
            advance,
        )
    except OkxBatchError as exc:
        one_order, failed = exc.results, exc.errors
    asked = list(one_order) + [c for c in failed if c not in one_order] if args.all else ccys
    return [
        Row(args.ord_id, c, result=one_order.get(c), error=failed.get(c)) for c in asked
    ]


def _print(args: argparse.Namespace, session: Session, rows: list[Row]) -> None:
    if not rows or all(row.result is None and row.error is None for row in rows):
        session.out.print("No loan order: there is no collateral to redeem.", highlight=False)
        return
    errors = any(row.error is not None for row in rows)
    with_order = any(row.ord_id is not None for row in rows)
    columns = [
        *([Column("Order")] if with_order else []),
        Column("Currency"),
        Column("Max redeem", right=True),
        *([Column("Error", rigid=False)] if errors else []),
    ]
    cells = []
    for row in rows:
        amount = "" if row.result is None else money(row.result.max_redeem_amt)
        cells.append([
            *([row.ord_id or ""] if with_order else []),
            row.ccy,
            amount,
            *([str(row.error or "")] if errors else []),
        ])
    title = "Maximum collateral redeem amount"
    if not with_order:
        title += " (earliest loan order)"
    print_table(session.out, title, columns, cells)


COMMAND = Command(
    "max-redeem", "maximum collateral redeem amount per currency and loan order",
    _arguments, _run, _check,
)
