"""``borrow`` and ``repay``: the two Flexible Loan writes that carry a ``clOrdId``.

They need the Trade permission (``50120`` without it). What OKX's pages leave open
is answered ``51000 Parameter {name} error``: a ``clOrdId`` that is empty or over 32
characters, 0 or more than 10 collateral entries to open an order, a currency or
amount the order cannot take, a loan beyond the LTV model or the quota, a repayment
above what the order owes. ``eMode`` with an ``ordId`` is ``50024``; collateral in the
loan currency, a currency not lent and one not taken as collateral are ``51750``,
``51751`` and ``51752``, as OKX's error table words them. E-Mode is recorded and
echoed; its pairs are not checked, as OKX publishes none.

The ``clOrdId`` itself (``51016``, ``51784``) is checked before a handler runs, by
:class:`~._idempotency.ClOrdIdStore`; ``applied[(endpoint, clOrdId)]`` on the account
counts the executions.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from ._account import PRICES, QUOTAS, LoanAccount
from ._answers import (
    LOAN_CCY_AS_COLLATERAL,
    NO_ORDER,
    Answer,
    bad_param,
    not_collateral,
    not_lent,
    not_together,
    ok,
)
from ._call import Answered, Call, amount, need_trade, text

_LOAN: Final = "/api/v5/finance/flexible-loan/"
BORROW_PATH: Final = _LOAN + "borrow"
REPAY_PATH: Final = _LOAN + "repay"
#: The paths whose requests carry an idempotency key, ``clOrdId``.
KEYED_PATHS: Final = frozenset({BORROW_PATH, REPAY_PATH})
#: OKX allows 2 requests per 2 s per user on each of the two writes (5 elsewhere).
WRITE_LIMIT: Final = 2
MAX_CL_ORD_ID: Final = 32
MAX_COLLATERAL: Final = 10


def cl_ord_id(body: Mapping[str, Any]) -> str | None:
    """The request's ``clOrdId`` if it is one the store keeps, else None."""
    value = body.get("clOrdId")
    if isinstance(value, str) and 0 < len(value) <= MAX_CL_ORD_ID:
        return value
    return None


def _key(call: Call) -> str:
    key = cl_ord_id(call.body)
    if key is None:
        raise Answered(bad_param("clOrdId"))
    return key


def _collateral(call: Call, *, opening: bool) -> list[tuple[str, Decimal]]:
    raw = call.body.get("collateralData")
    if raw is None and not opening:
        return []
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_COLLATERAL:
        raise Answered(bad_param("collateralData"))
    entries: list[tuple[str, Decimal]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise Answered(bad_param("collateralData"))
        ccy = text(item, "ccy", required=True) or ""
        if ccy in (c for c, _ in entries):
            raise Answered(bad_param("collateralData"))
        entries.append((ccy, amount(item, "amt", label="collateralData")))
    return entries


def borrow(call: Call, account: LoanAccount) -> Answer:
    """Open an order (no ``ordId``) or borrow more on one; answers its ``ordId``."""
    need_trade(call)
    key = _key(call)
    ord_id = text(call.body, "ordId")
    loan = call.body.get("loanData")
    if not isinstance(loan, dict):
        return bad_param("loanData")
    ccy = text(loan, "ccy", required=True) or ""
    amt = amount(loan, "amt", label="loanData")
    collateral = _collateral(call, opening=ord_id is None)
    e_mode = call.body.get("eMode")
    if ord_id is not None and e_mode is not None:
        return not_together("ordId", "eMode")
    if e_mode not in (None, "0", "1"):
        return bad_param("eMode")
    order = None if ord_id is None else account.orders.get(ord_id)
    if ord_id is not None and order is None:
        return NO_ORDER
    if ccy not in QUOTAS:
        return not_lent(ccy)
    for extra_ccy, _ in collateral:
        if extra_ccy == ccy:
            return LOAN_CCY_AS_COLLATERAL
        if not (order.knows(extra_ccy) if order else extra_ccy in PRICES):
            return not_collateral(extra_ccy)
    # An order has one borrow currency: the one it first borrowed.
    if order is not None and order.loans and ccy not in order.loans:
        return bad_param("loanData")
    if not account.may_borrow(order, ccy, amt, collateral):
        return bad_param("loanData")
    if order is None:
        order = account.open(ccy, amt, collateral, e_mode=e_mode == "1", now_ms=call.now_ms)
    else:
        account.borrow(order, ccy, amt, collateral, call.now_ms)
    account.applied["borrow", key] += 1
    return ok([{"ordId": order.ord_id, "eMode": "1" if order.e_mode else "0", "clOrdId": key}])


def repay(call: Call, account: LoanAccount) -> Answer:
    """Repay part or all of an order's loan; all of it closes the order."""
    need_trade(call)
    key = _key(call)
    fields = call.body
    ord_id = text(fields, "ordId", required=True) or ""
    ccy = text(fields, "ccy", required=True) or ""
    amt = amount(fields, "amt")
    order = account.orders.get(ord_id)
    if order is None:
        return NO_ORDER
    if order.loans.get(ccy, Decimal(0)) <= 0:
        return bad_param("ccy")
    if amt > order.loans[ccy]:
        return bad_param("amt")
    account.repay(order, ccy, amt, call.now_ms)
    account.applied["repay", key] += 1
    return ok([{"ordId": ord_id, "ccy": ccy, "amt": fields["amt"], "clOrdId": key}])
