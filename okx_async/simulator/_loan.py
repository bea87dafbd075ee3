"""The Flexible Loan endpoints' business answers, over one :class:`LoanAccount`.

Each handler gets the parsed request (:class:`Call`) and the user's account, checks
its parameters the way OKX does (a refused one is ``51000 Parameter {name} error``)
and answers from the account, which a write changes. ``ordId`` picks an order;
without it, the acting endpoints use the earliest open order and the reads cover
every order. With no order, the acting endpoints answer empty ``data`` (adjust-collateral
``51063``); an ``ordId`` the user does not hold is ``51063``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final

from ._account import QUOTAS, LoanAccount, LoanOrder, page, plain
from ._answers import BAD_CCY, NO_ORDER, Answer, bad_param, ok
from ._borrow import BORROW_PATH, REPAY_PATH, borrow, repay
from ._call import Answered, Call, amount, need_trade, page_args, text

__all__ = ["HISTORY_TYPES", "LOAN", "REDEEM_PATH", "ROUTES", "Call", "Handler", "answer"]

LOAN: Final = "/api/v5/finance/flexible-loan/"
REDEEM_PATH: Final = LOAN + "max-collateral-redeem-amount"
#: Every ``loan-history`` type OKX lists.
HISTORY_TYPES: Final = frozenset({
    "borrowed", "repaid", "collateral_locked", "collateral_released", "forced_repayment_buy",
    "forced_repayment_sell", "forced_liquidation", "partial_liquidation", "sell_collateral",
    "buy_transition_coin", "sell_transition_coin", "buy_borrowed_coin",
})


def _acting_order(call: Call, account: LoanAccount, *, none: Answer) -> LoanOrder:
    """The order named by ``ordId``, else the earliest; ``none`` answers if there is none."""
    ord_id = text(call.fields, "ordId")
    order = account.earliest() if ord_id is None else account.orders.get(ord_id)
    if order is None:
        raise Answered(none if ord_id is None else NO_ORDER)
    return order


def _known_order(call: Call, account: LoanAccount) -> str | None:
    """A read's ``ordId``, open or closed; None for every order."""
    ord_id = text(call.fields, "ordId")
    if ord_id is not None and not account.knows_order(ord_id):
        raise Answered(NO_ORDER)
    return ord_id


def borrow_currencies(call: Call, account: LoanAccount) -> Answer:
    return ok([{"borrowCcy": ccy} for ccy in QUOTAS])


def collateral_assets(call: Call, account: LoanAccount) -> Answer:
    ccy = text(call.fields, "ccy")
    order = _acting_order(call, account, none=ok([]))
    return ok([{"assets": order.assets(ccy)}])


def max_redeem(call: Call, account: LoanAccount) -> Answer:
    ccy = call.query.get("ccy", "")
    if not ccy:
        return BAD_CCY
    order = _acting_order(call, account, none=ok([]))
    if not order.knows(ccy):
        return BAD_CCY
    return ok([{"ccy": ccy, "maxRedeemAmt": plain(order.max_redeem(ccy))}])


def max_loan(call: Call, account: LoanAccount) -> Answer:
    ccy = text(call.fields, "borrowCcy", required=True) or ""
    if ccy not in QUOTAS:
        return bad_param("borrowCcy")
    extra_raw = call.body.get("supCollateral", [])
    if not isinstance(extra_raw, list):
        return bad_param("supCollateral")
    extra: list[tuple[str, Decimal]] = []
    for item in extra_raw:
        if not isinstance(item, dict):
            return bad_param("supCollateral")
        extra_ccy = text(item, "ccy", required=True) or ""
        extra.append((extra_ccy, amount(item, "amt")))
    order = _acting_order(call, account, none=ok([]))
    if not all(order.knows(c) for c, _ in extra):
        return bad_param("supCollateral")
    return ok([account.max_loan(order, ccy, extra)])


def adjust_collateral(call: Call, account: LoanAccount) -> Answer:
    need_trade(call)
    fields = call.fields
    kind = text(fields, "type", required=True)
    if kind not in ("add", "reduce"):
        return bad_param("type")
    ccy = text(fields, "collateralCcy", required=True) or ""
    amt = amount(fields, "collateralAmt")
    order = _acting_order(call, account, none=NO_ORDER)
    if not order.knows(ccy):
        return bad_param("collateralCcy")
    if kind == "add":
        account.add(order, ccy, amt, call.now_ms)
    elif not account.reduce(order, ccy, amt, call.now_ms):
        # More than max-redeem allows; OKX's own code for this case is not documented.
        return bad_param("collateralAmt")
    return ok([])


def loan_info(call: Call, account: LoanAccount) -> Answer:
    ord_id = text(call.fields, "ordId")
    if ord_id is None:
        return ok([order.loan_info() for order in account.orders.values()])
    order = account.orders.get(ord_id)
    return NO_ORDER if order is None else ok([order.loan_info()])


def loan_history(call: Call, account: LoanAccount) -> Answer:
    kind = text(call.fields, "type")
    if kind is not None and kind not in HISTORY_TYPES:
        return bad_param("type")
    after, before, limit = page_args(call.fields)
    ord_id = _known_order(call, account)
    entries = [
        e for e in account.history
        if (kind is None or e.type == kind) and (ord_id is None or e.ord_id == ord_id)
    ]
    return ok([e.to_okx() for e in page(entries, after, before, limit)])


def interest_accrued(call: Call, account: LoanAccount) -> Answer:
    ccy = text(call.fields, "ccy")
    after, before, limit = page_args(call.fields)
    ord_id = _known_order(call, account)
    entries = [
        e for e in account.interest
        if (ccy is None or e.ccy == ccy) and (ord_id is None or e.ord_id == ord_id)
    ]
    return ok([e.to_okx() for e in page(entries, after, before, limit)])


Handler = Callable[[Call, LoanAccount], Answer]

#: (method, path) -> handler, for every Flexible Loan endpoint the simulator serves.
#: emode-info is not among them: OKX publishes no fields for it.
ROUTES: Final[Mapping[tuple[str, str], Handler]] = {
    ("GET", LOAN + "borrow-currencies"): borrow_currencies,
    ("GET", LOAN + "collateral-assets"): collateral_assets,
    ("POST", LOAN + "max-loan"): max_loan,
    ("GET", REDEEM_PATH): max_redeem,
    ("POST", LOAN + "adjust-collateral"): adjust_collateral,
    ("GET", LOAN + "loan-info"): loan_info,
    ("GET", LOAN + "loan-history"): loan_history,
    ("GET", LOAN + "interest-accrued"): interest_accrued,
    ("POST", BORROW_PATH): borrow,
    ("POST", REPAY_PATH): repay,
}


def answer(handler: Handler, call: Call, account: LoanAccount) -> Answer:
    """Run a handler; an early answer (such as a refused parameter) becomes the reply."""
    try:
        return handler(call, account)
    except Answered as answered:
        return answered.answer
