"""Endpoints as data: path, rate limit, parameters and result. A new endpoint is a few lines."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ._errors import OkxResponseError
from ._models import (
    AccountConfig,
    BorrowCurrency,
    Borrowed,
    CollateralAsset,
    InterestAccrued,
    LoanHistoryEntry,
    LoanOrder,
    MaxCollateralRedeemAmount,
    MaxLoan,
    Repaid,
    ServerTime,
)
from ._params import (
    Param,
    check_amount,
    check_ccy,
    check_cl_ord_id,
    check_collateral,
    check_event_type,
    check_flag,
    check_id,
    check_limit,
    one_of,
    wire_params,
)
from ._request import Kind
from ._window import RateLimit

T = TypeVar("T")
Data = Sequence[Mapping[str, Any]]


def one(model: Callable[[Mapping[str, Any]], T]) -> Callable[[Data], T]:
    """The result is the single item of ``data``."""

    def result(data: Data) -> T:
        if len(data) != 1:
            raise OkxResponseError(f"expected one item in 'data', got {len(data)}")
        return model(data[0])

    return result


def one_of_order(model: Callable[[Mapping[str, Any]], T]) -> Callable[[Data], T | None]:
    """The single item of ``data``, or ``None``: OKX answers no item when there is no order."""

    def result(data: Data) -> T | None:
        if not data:
            return None
        if len(data) != 1:
            raise OkxResponseError(f"expected at most one item in 'data', got {len(data)}")
        return model(data[0])

    return result


def each(model: Callable[[Mapping[str, Any]], T]) -> Callable[[Data], list[T]]:
    """The result is every item of ``data``, in OKX's order."""

    def result(data: Data) -> list[T]:
        return [model(item) for item in data]

    return result


def nothing(data: Data) -> None:
    """The answer carries no data worth returning; success is the result."""


@attrs.frozen
class Endpoint(Generic[T]):
    """Everything a request needs besides its arguments.

    ``params`` maps each Python keyword to its OKX name and check; a GET sends them
    as the query, a POST as a compact JSON body. ``per_user`` says the limit is
    counted per user id (private endpoints); otherwise per IP, keyed by host.
    ``kind`` says what a resend would do (:class:`Kind`): a read is resent after any
    transient failure, an unkeyed write never once it may have reached OKX, and a
    keyed write carries ``key_param`` (its ``clOrdId``) and may be resent while OKX
    remembers it. ``confirmed(wire)`` builds a keyed write's result from what was
    sent, for when OKX says a request with that key was already executed. ``rules``
    checks what no single parameter can (say, collateral required to open an order).
    """

    method: str
    path: str
    rule: RateLimit
    result: Callable[[Data], T]
    params: Mapping[str, Param] = attrs.field(factory=dict)
    private: bool = True
    per_user: bool = True
    kind: Kind = Kind.READ
    key_param: str | None = None
    confirmed: Callable[[Mapping[str, Any]], T] | None = None
    rules: Callable[[Mapping[str, Any]], None] | None = None

    def wire(self, args: Mapping[str, object]) -> dict[str, Any]:
        """Check the arguments of one call: OKX's names and wire values, or raise."""
        wire = wire_params(self.params, args)
        if self.rules is not None:
            self.rules(wire)
        return wire


FIVE_PER_2S = RateLimit(5, 2.0)
TWO_PER_2S = RateLimit(2, 2.0)
_LOAN = "/api/v5/finance/flexible-loan/"

#: The loan-history types OKX lists; it adds more over time, and any is accepted.
HISTORY_TYPES = (
    "borrowed", "repaid", "collateral_locked", "collateral_released", "forced_repayment_buy",
    "forced_repayment_sell", "forced_liquidation", "partial_liquidation", "sell_collateral",
    "buy_transition_coin", "sell_transition_coin", "buy_borrowed_coin",
)
#: Collateral entries a new order takes, as OKX states it.
MAX_COLLATERAL_ENTRIES = 10
_ORD_ID = Param("ordId", check_id)
_KEY = Param("clOrdId", check_cl_ord_id)
_PAGE = {
    "after": Param("after", check_id),
    "before": Param("before", check_id),
    "limit": Param("limit", check_limit),
}

BORROW_CURRENCIES = Endpoint(
    "GET", _LOAN + "borrow-currencies", FIVE_PER_2S, each(BorrowCurrency.from_okx),
)
COLLATERAL_ASSETS = Endpoint(
    "GET", _LOAN + "collateral-assets", FIVE_PER_2S, CollateralAsset.list_from_okx,
    {"ccy": Param("ccy", check_ccy), "ord_id": _ORD_ID},
)
MAX_LOAN = Endpoint(
    "POST", _LOAN + "max-loan", FIVE_PER_2S, one_of_order(MaxLoan.from_okx),
    {"borrow_ccy": Param("borrowCcy", check_ccy, required=True),
     "sup_collateral": Param("supCollateral", check_collateral), "ord_id": _ORD_ID},
)
MAX_COLLATERAL_REDEEM_AMOUNT = Endpoint(
    "GET", _LOAN + "max-collateral-redeem-amount", FIVE_PER_2S,
    one_of_order(MaxCollateralRedeemAmount.from_okx),
    {"ccy": Param("ccy", check_ccy, required=True), "ord_id": _ORD_ID},
)
ADJUST_COLLATERAL = Endpoint(
    "POST", _LOAN + "adjust-collateral", FIVE_PER_2S, nothing,
    {"type": Param("type", one_of("add", "reduce"), required=True),
     "collateral_ccy": Param("collateralCcy", check_ccy, required=True),
     "collateral_amt": Param("collateralAmt", check_amount, required=True),
     "ord_id": _ORD_ID},
    kind=Kind.UNKEYED_WRITE,
)
LOAN_INFO = Endpoint(
    "GET", _LOAN + "loan-info", FIVE_PER_2S, each(LoanOrder.from_okx), {"ord_id": _ORD_ID},
)
LOAN_HISTORY = Endpoint(
    "GET", _LOAN + "loan-history", FIVE_PER_2S, each(LoanHistoryEntry.from_okx),
    {"type": Param("type", check_event_type), **_PAGE, "ord_id": _ORD_ID},
)
INTEREST_ACCRUED = Endpoint(
    "GET", _LOAN + "interest-accrued", FIVE_PER_2S, each(InterestAccrued.from_okx),
    {"ccy": Param("ccy", check_ccy), **_PAGE, "ord_id": _ORD_ID},
)



def _borrow_rules(wire: Mapping[str, Any]) -> None:
    entries = len(wire.get("collateralData", ()))
    if "ordId" in wire:
        if "eMode" in wire:
            raise ValueError("e_mode is fixed when an order opens: not with ord_id")
    elif not 1 <= entries <= MAX_COLLATERAL_ENTRIES:
        raise ValueError(
            f"opening an order takes 1 to {MAX_COLLATERAL_ENTRIES} collateral currencies "
            f"(collateral=), got {entries}; pass ord_id= to borrow more on an open order"
        )
    if entries > MAX_COLLATERAL_ENTRIES:
        raise ValueError(
            f"collateral takes at most {MAX_COLLATERAL_ENTRIES} currencies, got {entries}"
        )


BORROW = Endpoint(
    "POST", _LOAN + "borrow", TWO_PER_2S, one(Borrowed.from_okx),
    {"ccy": Param("ccy", check_ccy, required=True, into="loanData"),
     "amt": Param("amt", check_amount, required=True, into="loanData"),
     "collateral": Param("collateralData", check_collateral), "ord_id": _ORD_ID,
     "e_mode": Param("eMode", check_flag), "cl_ord_id": _KEY},
    kind=Kind.KEYED_WRITE, key_param="clOrdId", confirmed=Borrowed.from_sent,
    rules=_borrow_rules,
)
REPAY = Endpoint(
    "POST", _LOAN + "repay", TWO_PER_2S, one(Repaid.from_okx),
    {"ord_id": Param("ordId", check_id, required=True),
     "ccy": Param("ccy", check_ccy, required=True),
     "amt": Param("amt", check_amount, required=True), "cl_ord_id": _KEY},
    kind=Kind.KEYED_WRITE, key_param="clOrdId", confirmed=Repaid.from_sent,
)

ACCOUNT_CONFIG = Endpoint("GET", "/api/v5/account/config", FIVE_PER_2S, one(AccountConfig.from_okx))
PUBLIC_TIME = Endpoint(
    "GET", "/api/v5/public/time", RateLimit(10, 2.0), one(ServerTime.from_okx),
    private=False, per_user=False,
)

#: Every endpoint the client types, by (method, path): their rules apply to
#: :meth:`~okx_async.OkxClient.request` on the same path too.
TYPED: Mapping[tuple[str, str], Endpoint[Any]] = {
    (e.method, e.path): e
    for e in (
        BORROW_CURRENCIES, COLLATERAL_ASSETS, MAX_LOAN, MAX_COLLATERAL_REDEEM_AMOUNT,
        ADJUST_COLLATERAL, LOAN_INFO, LOAN_HISTORY, INTEREST_ACCRUED, BORROW, REPAY,
        ACCOUNT_CONFIG, PUBLIC_TIME,
    )
}
