"""The writes: ``borrow``, ``repay`` and ``adjust-collateral``, each confirmed before sending.

In order: the arguments (as parsed), the keys and Redis (opening the session), then
the loan order the write acts on (one read, which also proves the keys work); then
the exact request is shown and confirmed (unless ``--yes``), and only then sent.
borrow and repay carry an idempotency key (``clOrdId``): generated here unless
``--cl-ord-id`` gives one, so it is shown before sending and can be reused to
reconcile. A write whose outcome is unknown exits with ``UNKNOWN`` and says how to
find out what happened.
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal
from typing import Any

import attrs

from ._cli_args import amount, ccy, ccy_amount, cl_ord_id, ord_id
from ._cli_command import Command
from ._cli_confirm import can_ask, confirm
from ._cli_exit import OK, UNKNOWN, NotFound, Refused, UsageError
from ._cli_output import line, money, percent, print_json
from ._cli_session import Session
from ._endpoints import ADJUST_COLLATERAL, BORROW, MAX_COLLATERAL_ENTRIES, REPAY, Endpoint
from ._errors import OkxUnknownOutcomeError
from ._models import Borrowed, LoanOrder, Repaid
from ._request import new_cl_ord_id
from ._signing import json_body


@attrs.frozen
class Plan:
    """One write, fully checked: what it does in words, and the request as it will go."""

    #: "borrow", "repay" or "adjust-collateral".
    name: str
    endpoint: Endpoint[Any]
    #: The library method's keyword arguments.
    kwargs: dict[str, Any]
    summary: str

    @property
    def ord_id(self) -> str | None:
        value = self.kwargs.get("ord_id")
        return value if isinstance(value, str) else None

    @property
    def cl_ord_id(self) -> str | None:
        value = self.kwargs.get("cl_ord_id")
        return value if isinstance(value, str) else None

    def request(self) -> str:
        """The request line and body exactly as they will be sent."""
        return f"{self.endpoint.method} {self.endpoint.path} " + json_body(
            self.endpoint.wire(self.kwargs)
        ).decode()


def _amounts(pairs: list[tuple[str, Decimal]]) -> str:
    return ", ".join(f"{money(amt)} {code}" for code, amt in pairs)


def _plan(args: argparse.Namespace) -> Plan:
    """The write the arguments ask for; raises before anything is sent if it cannot be."""
    if args.command == "borrow":
        plan = _borrow_plan(args)
    elif args.command == "repay":
        plan = Plan("repay", REPAY, {
            "ord_id": args.ord_id, "ccy": args.ccy, "amt": args.amt, "cl_ord_id": args.cl_ord_id,
        }, f"Repay {money(args.amt)} {args.ccy} of loan order {args.ord_id}.")
    else:
        which = "the earliest loan order" if args.ord_id is None else f"loan order {args.ord_id}"
        verb, way = ("Add", "to") if args.type == "add" else ("Release", "from")
        plan = Plan("adjust-collateral", ADJUST_COLLATERAL, {
            "type": args.type, "collateral_ccy": args.ccy, "collateral_amt": args.amt,
            "ord_id": args.ord_id,
        }, f"{verb} {money(args.amt)} {args.ccy} of collateral {way} {which}.")
    try:
        plan.request()  # the library's own checks, for anything the flags let through
    except (TypeError, ValueError) as exc:
        raise Refused(str(exc)) from None
    return plan


def _borrow_plan(args: argparse.Namespace) -> Plan:
    codes = [code for code, _ in args.collateral]
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise UsageError(f"--collateral names {', '.join(twice)} more than once")
    if len(codes) > MAX_COLLATERAL_ENTRIES:
        raise UsageError(f"--collateral takes at most {MAX_COLLATERAL_ENTRIES} currencies")
    if args.ord_id is not None and args.e_mode:
        raise UsageError("--e-mode is chosen when a loan order opens: not with --ord-id")
    if args.ord_id is None and not codes:
        raise UsageError(
            "opening a loan order takes --collateral CCY=AMOUNT (1 to "
            f"{MAX_COLLATERAL_ENTRIES}); pass --ord-id to borrow more on an open order"
        )
    what = f"Borrow {money(args.amt)} {args.ccy}"
    if args.ord_id is None:
        mode = " in E-Mode" if args.e_mode else ""
        summary = f"{what}, opening a new loan order{mode} with {_amounts(args.collateral)} " \
                  "of collateral."
    else:
        extra = f", adding {_amounts(args.collateral)} of collateral" if codes else ""
        summary = f"{what} more on loan order {args.ord_id}{extra}."
    return Plan("borrow", BORROW, {
        "ccy": args.ccy, "amt": args.amt, "collateral": dict(args.collateral) or None,
        "ord_id": args.ord_id, "e_mode": args.e_mode, "cl_ord_id": args.cl_ord_id,
    }, summary)


def _check(args: argparse.Namespace) -> None:
    if args.command != "adjust-collateral" and args.cl_ord_id is None:
        # Chosen now, so the confirmation shows it and an unknown outcome can name it.
        args.cl_ord_id = new_cl_ord_id()
    _plan(args)
    if not args.yes and not can_ask():
        raise Refused(
            f"refusing to {args.command} without confirmation: stdin is not a terminal; "
            "pass --yes"
        )


async def _run(args: argparse.Namespace, session: Session) -> int:
    plan = _plan(args)
    state = await _order_state(plan, session)
    if not args.yes:
        err = session.err
        line(err, f"About to send to {session.target}:")
        line(err, f"  {plan.request()}")
        if state:
            line(err, state)
        confirm(plan.summary + " Send it?", plan.name)
    try:
        result = await _send(plan, session)
    except OkxUnknownOutcomeError as exc:
        line(session.err, str(exc), "red")
        line(session.err, _reconcile(plan))
        return UNKNOWN
    except asyncio.CancelledError:
        line(session.err, f"interrupted: the {plan.name} may have reached OKX.", "red")
        line(session.err, _reconcile(plan))
        raise
    if args.json:
        print_json(result)
    else:
        line(session.out, _done(plan, result))
    return OK


async def _order_state(plan: Plan, session: Session) -> str:
    """The order the write acts on, as it is now; refuses a write with no order to act on."""
    orders = await session.client.loan_info(ord_id=plan.ord_id)
    if plan.name == "borrow" and plan.ord_id is None:
        return f"The account has {len(orders)} loan order(s); this opens another."
    if not orders:
        raise NotFound(f"no loan order {plan.ord_id}" if plan.ord_id else
                       "the account has no loan order to act on")
    if plan.ord_id is None and len(orders) > 1:
        return (f"The account has {len(orders)} loan orders; OKX acts on the earliest "
                "(--ord-id picks one).")
    return _describe(orders[0])


def _describe(order: LoanOrder) -> str:
    owes = _amounts([(item.ccy, item.amt) for item in order.loan_data]) or "nothing"
    return (f"Loan order {order.ord_id} now owes {owes}; collateral worth "
            f"{money(order.collateral_notional_usd)} USD; LTV {percent(order.cur_ltv)}.")


async def _send(plan: Plan, session: Session) -> object:
    client = session.client
    if plan.name == "borrow":
        return await client.borrow(**plan.kwargs)
    if plan.name == "repay":
        return await client.repay(**plan.kwargs)
    await client.adjust_collateral(**plan.kwargs)
    return plan.kwargs


def _done(plan: Plan, result: object) -> str:
    if isinstance(result, Borrowed):
        if result.ord_id is None:
            return (f"Borrow executed (clOrdId {result.cl_ord_id}). OKX's first answer was "
                    "lost, and with it the new order's ID: okx-async loan-info lists it.")
        return (f"Borrow accepted on loan order {result.ord_id} (clOrdId {result.cl_ord_id}); "
                "okx-async loan-info shows it once settled.")
    if isinstance(result, Repaid):
        return (f"Repayment of {money(result.amt)} {result.ccy} accepted on loan order "
                f"{result.ord_id} (clOrdId {result.cl_ord_id}).")
    kwargs = plan.kwargs
    verb = "Added" if kwargs["type"] == "add" else "Released"
    return f"{verb} {money(kwargs['collateral_amt'])} {kwargs['collateral_ccy']} of collateral."


def _reconcile(plan: Plan) -> str:
    """How to find out whether a write whose outcome is unknown happened."""
    if plan.cl_ord_id is None:
        return ("Before trying again, see whether it happened: okx-async history --limit 5 "
                "(collateral_locked or collateral_released) and okx-async loan-info.")
    return (f"Before trying again, see whether it happened: okx-async loan-info and "
            f"okx-async history --limit 5. OKX remembers clOrdId {plan.cl_ord_id} for 60 s "
            f"from the first send: until then, the same command with --cl-ord-id "
            f"{plan.cl_ord_id} cannot execute twice.")


# The parsers -----------------------------------------------------------------------------


def _yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="send without asking")


def _key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cl-ord-id", type=cl_ord_id, metavar="KEY",
        help="the idempotency key (up to 32 letters and digits; generated if not given)",
    )


def _borrow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ccy", metavar="CCY", type=ccy, help="the currency to borrow")
    parser.add_argument("amt", metavar="AMOUNT", type=amount, help="how much, e.g. 500")
    parser.add_argument(
        "--collateral", action="append", default=[], type=ccy_amount, metavar="CCY=AMOUNT",
        help="collateral to pledge (repeatable; 1 to 10 to open an order)",
    )
    parser.add_argument("--ord-id", type=ord_id, metavar="ORD_ID",
                        help="borrow more on this loan order (default: open a new one)")
    parser.add_argument("--e-mode", action="store_true",
                        help="open the order in E-Mode (not with --ord-id)")
    _key(parser)
    _yes(parser)


def _repay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ccy", metavar="CCY", type=ccy, help="the order's loan currency")
    parser.add_argument("amt", metavar="AMOUNT", type=amount,
                        help="how much (all that is owed closes the order)")
    parser.add_argument("--ord-id", type=ord_id, metavar="ORD_ID", required=True,
                        help="the loan order to repay (okx-async loan-info lists them)")
    _key(parser)
    _yes(parser)


def _adjust_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("type", choices=["add", "reduce"], help="add or reduce (release)")
    parser.add_argument("ccy", metavar="CCY", type=ccy, help="the collateral currency")
    parser.add_argument("amt", metavar="AMOUNT", type=amount, help="how much, e.g. 0.05")
    parser.add_argument("--ord-id", type=ord_id, metavar="ORD_ID",
                        help="this loan order (default: OKX's choice, the earliest)")
    _yes(parser)


COMMANDS = (
    Command("borrow", "open a loan order, or borrow more on one (Trade permission; asks first)",
            _borrow_arguments, _run, _check, trade=True),
    Command("repay", "repay part or all of a loan order (Trade permission; asks first)",
            _repay_arguments, _run, _check, trade=True),
    Command("adjust-collateral",
            "add or release a loan order's collateral (Trade permission, not idempotent; "
            "asks first)", _adjust_arguments, _run, _check, trade=True),
)
