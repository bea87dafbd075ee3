"""Endpoints as data: path, rate limit, parameters and result. A new endpoint is a few lines."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ._errors import OkxResponseError
from ._models import (
    AccountConfig,
    BorrowCurrency,
    CollateralAsset,
    InterestAccrued,
    LoanHistoryEntry,
    LoanInfo,
    MaxCollateralRedeemAmount,
    MaxLoan,
    ServerTime,
)
from ._params import (
    Param,
    check_amount,
    check_ccy,
    check_collateral,
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
    sent, for when OKX says a request with that key was already executed.
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

    def wire(self, args: Mapping[str, object]) -> dict[str, Any]:
        """Check the arguments of one call: OKX's names and wire values, or raise."""
        return wire_params(self.params, args)


FIVE_PER_2S = RateLimit(5, 2.0)
_LOAN = "/api/v5/finance/flexible-loan/"

HISTORY_TYPES = (
    "borrowed", "repaid", "collateral_locked", "collateral_released", "forced_repayment_buy",
    "forced_repayment_sell", "forced_liquidation", "partial_liquidation",
)
_ORD_ID = Param("ordId", check_id)
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
    "POST", _LOAN + "max-loan", FIVE_PER_2S, one(MaxLoan.from_okx),
    {"borrow_ccy": Param("borrowCcy", check_ccy, required=True),
     "sup_collateral": Param("supCollateral", check_collateral), "ord_id": _ORD_ID},
)
MAX_COLLATERAL_REDEEM_AMOUNT = Endpoint(
    "GET", _LOAN + "max-collateral-redeem-amount", FIVE_PER_2S,
    one(MaxCollateralRedeemAmount.from_okx),
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
    "GET", _LOAN + "loan-info", FIVE_PER_2S, one(LoanInfo.from_okx), {"ord_id": _ORD_ID},
)
LOAN_HISTORY = Endpoint(
    "GET", _LOAN + "loan-history", FIVE_PER_2S, each(LoanHistoryEntry.from_okx),
    {"type": Param("type", one_of(*HISTORY_TYPES)), **_PAGE, "ord_id": _ORD_ID},
)
INTEREST_ACCRUED = Endpoint(
    "GET", _LOAN + "interest-accrued", FIVE_PER_2S, each(InterestAccrued.from_okx),
    {"ccy": Param("ccy", check_ccy), **_PAGE, "ord_id": _ORD_ID},
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
        ADJUST_COLLATERAL, LOAN_INFO, LOAN_HISTORY, INTEREST_ACCRUED, ACCOUNT_CONFIG,
        PUBLIC_TIME,
    )
}
