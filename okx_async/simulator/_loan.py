"""The Flexible Loan endpoints' business answers, over one :class:`LoanAccount`.

Each handler gets the parsed request (:class:`Call`) and the user's account, checks
its parameters the way OKX does (a refused one is ``51000 Parameter {name} error``)
and answers from the account, which a write changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from ._account import QUOTAS, LoanAccount, page, plain
from ._answers import BAD_CCY, NO_PERMISSION, Answer, bad_param, ok
from ._demo import SimKey

LOAN: Final = "/api/v5/finance/flexible-loan/"
REDEEM_PATH: Final = LOAN + "max-collateral-redeem-amount"
HISTORY_TYPES: Final = frozenset({
    "borrowed", "repaid", "collateral_locked", "collateral_released", "forced_repayment_buy",
    "forced_repayment_sell", "forced_liquidation", "partial_liquidation",
})
_MAX_PAGE: Final = 100


@attrs.frozen
class Call:
    """One authenticated request: who sent it, its query or JSON body, and when."""

    key: SimKey
    query: Mapping[str, str]
    body: Mapping[str, Any]
    now_ms: int

    def param(self, name: str) -> Any:
        """A parameter from the body, else the query; ``None`` if absent."""
        return self.body.get(name, self.query.get(name))


class _Refused(Exception):
    """A parameter OKX would refuse; carries the answer. Never leaves this module."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer


def _text(call: Call, name: str, *, required: bool = False) -> str | None:
    value = call.param(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _Refused(bad_param(name))
    return value


def _amount(call: Call, name: str) -> Decimal:
    text = _text(call, name, required=True)
    try:
        value = Decimal(text or "")
    except InvalidOperation:
        raise _Refused(bad_param(name)) from None
    if not value.is_finite() or value <= 0:
        raise _Refused(bad_param(name))
    return value


def _number(call: Call, name: str) -> int | None:
    text = _text(call, name)
    if text is None:
        return None
    if not text.isascii() or not text.isdigit():
        raise _Refused(bad_param(name))
    return int(text)


def _page_args(call: Call) -> tuple[int | None, int | None, int]:
    limit = _number(call, "limit")
    if limit is not None and not 1 <= limit <= _MAX_PAGE:
        raise _Refused(bad_param("limit"))
    return _number(call, "after"), _number(call, "before"), limit or _MAX_PAGE


def borrow_currencies(call: Call, account: LoanAccount) -> Answer:
    return ok([{"borrowCcy": ccy} for ccy in QUOTAS])


def collateral_assets(call: Call, account: LoanAccount) -> Answer:
    ccy = _text(call, "ccy")
    return ok([{"assets": account.assets(ccy)}])


def max_redeem(call: Call, account: LoanAccount) -> Answer:
    ccy = call.query.get("ccy", "")
    if not ccy or not account.knows(ccy):
        return BAD_CCY
    return ok([{"ccy": ccy, "maxRedeemAmt": plain(account.max_redeem(ccy))}])


def max_loan(call: Call, account: LoanAccount) -> Answer:
    ccy = _text(call, "borrowCcy", required=True) or ""
    if ccy not in QUOTAS:
        return bad_param("borrowCcy")
    extra_raw = call.body.get("supCollateral", [])
    if not isinstance(extra_raw, list):
        return bad_param("supCollateral")
    extra: list[tuple[str, Decimal]] = []
    for item in extra_raw:
        if not isinstance(item, dict):
            return bad_param("supCollateral")
        sub = Call(call.key, {}, item, call.now_ms)
        extra_ccy = _text(sub, "ccy", required=True) or ""
        if not account.knows(extra_ccy):
            return bad_param("supCollateral")
        extra.append((extra_ccy, _amount(sub, "amt")))
    return ok([account.max_loan(ccy, extra)])


def adjust_collateral(call: Call, account: LoanAccount) -> Answer:
    if "trade" not in call.key.perm.split(","):
        return NO_PERMISSION
    kind = _text(call, "type", required=True)
    if kind not in ("add", "reduce"):
        return bad_param("type")
    ccy = _text(call, "collateralCcy", required=True) or ""
    if not account.knows(ccy):
        return bad_param("collateralCcy")
    amt = _amount(call, "collateralAmt")
    if kind == "add":
        account.add(ccy, amt, call.now_ms)
    elif not account.reduce(ccy, amt, call.now_ms):
        # More than max-redeem allows; OKX's own code for this case is not documented.
        return bad_param("collateralAmt")
    return ok([])


def loan_info(call: Call, account: LoanAccount) -> Answer:
    return ok([account.loan_info()])


def loan_history(call: Call, account: LoanAccount) -> Answer:
    kind = _text(call, "type")
    if kind is not None and kind not in HISTORY_TYPES:
        return bad_param("type")
    after, before, limit = _page_args(call)
    entries = [e for e in account.history if kind is None or e.type == kind]
    return ok([e.to_okx() for e in page(entries, after, before, limit)])


def interest_accrued(call: Call, account: LoanAccount) -> Answer:
    ccy = _text(call, "ccy")
    after, before, limit = _page_args(call)
    entries = [e for e in account.interest if ccy is None or e.ccy == ccy]
    return ok([e.to_okx() for e in page(entries, after, before, limit)])


Handler = Callable[[Call, LoanAccount], Answer]

#: (method, path) -> handler, for every Flexible Loan endpoint.
ROUTES: Final[Mapping[tuple[str, str], Handler]] = {
    ("GET", LOAN + "borrow-currencies"): borrow_currencies,
    ("GET", LOAN + "collateral-assets"): collateral_assets,
    ("POST", LOAN + "max-loan"): max_loan,
    ("GET", REDEEM_PATH): max_redeem,
    ("POST", LOAN + "adjust-collateral"): adjust_collateral,
    ("GET", LOAN + "loan-info"): loan_info,
    ("GET", LOAN + "loan-history"): loan_history,
    ("GET", LOAN + "interest-accrued"): interest_accrued,
}


def answer(handler: Handler, call: Call, account: LoanAccount) -> Answer:
    """Run a handler; a refused parameter becomes its 51000 answer."""
    try:
        return handler(call, account)
    except _Refused as refused:
        return refused.answer
