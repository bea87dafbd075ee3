"""Typed results. Each model is built from one OKX ``data`` item by ``from_okx``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from ._errors import OkxResponseError


def _text(item: Mapping[str, Any], field: str) -> str:
    value = item.get(field)
    if not isinstance(value, str):
        raise OkxResponseError(f"field {field!r} is missing or not a string: {value!r:.80}")
    return value


def _amount(item: Mapping[str, Any], field: str) -> Decimal:
    text = _text(item, field)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise OkxResponseError(f"field {field!r} is not a number: {text!r:.80}") from None
    if not value.is_finite():
        raise OkxResponseError(f"field {field!r} is not a finite number: {text!r:.80}")
    return value


@attrs.frozen
class MaxCollateralRedeemAmount:
    """How much of one collateral currency can be redeemed now.

    Example::

        >>> MaxCollateralRedeemAmount.from_okx({"ccy": "USDT", "maxRedeemAmt": "1"})
        MaxCollateralRedeemAmount(ccy='USDT', max_redeem_amt=Decimal('1'))
    """

    ccy: str
    max_redeem_amt: Decimal

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> MaxCollateralRedeemAmount:
        return cls(ccy=_text(item, "ccy"), max_redeem_amt=_amount(item, "maxRedeemAmt"))


@attrs.frozen
class AccountConfig:
    """The part of ``/api/v5/account/config`` the client needs: whose key this is."""

    uid: str

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> AccountConfig:
        uid = _text(item, "uid")
        if not uid:
            raise OkxResponseError("field 'uid' is empty")
        return cls(uid=uid)


@attrs.frozen
class ServerTime:
    """OKX's clock, from ``/api/v5/public/time``."""

    ts_ms: int

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> ServerTime:
        text = _text(item, "ts")
        if not text.isdigit():
            raise OkxResponseError(f"field 'ts' is not Unix milliseconds: {text!r:.80}")
        return cls(ts_ms=int(text))


def _ms_time(item: Mapping[str, Any], field: str) -> datetime:
    text = _text(item, field)
    if not text.isdigit():
        raise OkxResponseError(f"field {field!r} is not Unix milliseconds: {text!r:.80}")
    return datetime.fromtimestamp(int(text) / 1000, tz=UTC)


def _items(item: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    value = item.get(field)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise OkxResponseError(f"field {field!r} is not a list of objects: {value!r:.80}")
    return value


@attrs.frozen
class CurrencyAmount:
    """An amount of one currency, as in ``loanData`` and ``collateralData``."""

    ccy: str
    amt: Decimal

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> CurrencyAmount:
        return cls(ccy=_text(item, "ccy"), amt=_amount(item, "amt"))


@attrs.frozen
class BorrowCurrency:
    """A currency Flexible Loan lends (``GET borrow-currencies``)."""

    borrow_ccy: str

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> BorrowCurrency:
        return cls(borrow_ccy=_text(item, "borrowCcy"))


@attrs.frozen
class CollateralAsset:
    """One collateral currency of the account and its USD value (``GET collateral-assets``).

    Example::

        >>> CollateralAsset.from_okx({"ccy": "BTC", "amt": "0.5", "notionalUsd": "30000"})
        CollateralAsset(ccy='BTC', amt=Decimal('0.5'), notional_usd=Decimal('30000'))
    """

    ccy: str
    amt: Decimal
    notional_usd: Decimal

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> CollateralAsset:
        return cls(
            ccy=_text(item, "ccy"), amt=_amount(item, "amt"),
            notional_usd=_amount(item, "notionalUsd"),
        )

    @classmethod
    def list_from_okx(cls, data: Sequence[Mapping[str, Any]]) -> list[CollateralAsset]:
        """OKX wraps the list: ``data: [{"assets": [...]}]``; an empty ``data`` is no assets."""
        if not data:
            return []
        if len(data) != 1:
            raise OkxResponseError(f"expected one item in 'data', got {len(data)}")
        return [cls.from_okx(asset) for asset in _items(data[0], "assets")]


@attrs.frozen
class MaxLoan:
    """How much more of ``borrow_ccy`` the account could borrow (``POST max-loan``)."""

    borrow_ccy: str
    max_loan: Decimal
    notional_usd: Decimal
    remaining_quota: Decimal

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> MaxLoan:
        return cls(
            borrow_ccy=_text(item, "borrowCcy"), max_loan=_amount(item, "maxLoan"),
            notional_usd=_amount(item, "notionalUsd"),
            remaining_quota=_amount(item, "remainingQuota"),
        )


@attrs.frozen
class RiskWarning:
    """The instrument whose price would liquidate the loan, and that price."""

    inst_id: str
    liq_px: Decimal


@attrs.frozen
class LoanOrder:
    """One loan order: its loan, its collateral and their LTVs (``GET loan-info``).

    An account holds any number of orders, each with its own ``ord_id``. LTVs are
    fractions (``Decimal('0.5')`` is 50 %). ``risk_warning`` is ``None`` when OKX
    names no liquidation price (it names one only for an order with one collateral
    and one borrowed currency).
    """

    ord_id: str
    loan_notional_usd: Decimal
    loan_data: tuple[CurrencyAmount, ...]
    collateral_notional_usd: Decimal
    collateral_data: tuple[CurrencyAmount, ...]
    risk_warning: RiskWarning | None
    cur_ltv: Decimal
    margin_call_ltv: Decimal
    liq_ltv: Decimal

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> LoanOrder:
        return cls(
            ord_id=_text(item, "ordId"),
            loan_notional_usd=_amount(item, "loanNotionalUsd"),
            loan_data=tuple(CurrencyAmount.from_okx(x) for x in _items(item, "loanData")),
            collateral_notional_usd=_amount(item, "collateralNotionalUsd"),
            collateral_data=tuple(
                CurrencyAmount.from_okx(x) for x in _items(item, "collateralData")
            ),
            risk_warning=_risk_warning(item.get("riskWarningData")),
            cur_ltv=_amount(item, "curLTV"),
            margin_call_ltv=_amount(item, "marginCallLTV"),
            liq_ltv=_amount(item, "liqLTV"),
        )


@attrs.frozen
class Borrowed:
    """What ``borrow`` did: the order it opened or added to (``POST borrow``).

    OKX accepted the request; the loan settles shortly after (``loan_info`` shows it).
    ``confirmed_by_duplicate`` is true when OKX's first answer was lost and a resend
    with the same ``cl_ord_id`` was answered "already executed" (51016): the result
    is then built from what was sent, so ``ord_id`` is ``None`` for a new order
    (find it in ``loan_info()``) and ``e_mode`` is what was asked for.
    """

    ord_id: str | None
    e_mode: bool
    cl_ord_id: str
    confirmed_by_duplicate: bool = False

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> Borrowed:
        return cls(
            ord_id=_text(item, "ordId"), e_mode=_text(item, "eMode") == "1",
            cl_ord_id=_text(item, "clOrdId"),
        )

    @classmethod
    def from_sent(cls, sent: Mapping[str, Any]) -> Borrowed:
        ord_id = sent.get("ordId")
        return cls(
            ord_id=ord_id if isinstance(ord_id, str) else None,
            e_mode=sent.get("eMode") == "1", cl_ord_id=str(sent["clOrdId"]),
            confirmed_by_duplicate=True,
        )


@attrs.frozen
class Repaid:
    """What ``repay`` asked for (``POST repay``); ``loan_info`` shows the settled result.

    Repaying the whole outstanding amount closes the order. ``confirmed_by_duplicate``
    as in :class:`Borrowed`; every field is known from what was sent.
    """

    ord_id: str
    ccy: str
    amt: Decimal
    cl_ord_id: str
    confirmed_by_duplicate: bool = False

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> Repaid:
        return cls(
            ord_id=_text(item, "ordId"), ccy=_text(item, "ccy"), amt=_amount(item, "amt"),
            cl_ord_id=_text(item, "clOrdId"),
        )

    @classmethod
    def from_sent(cls, sent: Mapping[str, Any]) -> Repaid:
        return attrs.evolve(cls.from_okx(sent), confirmed_by_duplicate=True)


def _risk_warning(value: object) -> RiskWarning | None:
    # OKX sends the object with empty strings, or an empty object, when there is no loan.
    if value is None or value in ({}, []):
        return None
    if not isinstance(value, dict):
        raise OkxResponseError(f"field 'riskWarningData' is not an object: {value!r:.80}")
    if not value.get("instId") and not value.get("liqPx"):
        return None
    return RiskWarning(inst_id=_text(value, "instId"), liq_px=_amount(value, "liqPx"))


@attrs.frozen
class LoanHistoryEntry:
    """One event of a loan (``GET loan-history``); ``ts`` is an aware UTC ``datetime``.

    ``type`` is OKX's, one of :data:`~okx_async.HISTORY_TYPES` or a type OKX added
    since (kept as it is). ``amt`` carries OKX's sign. ``ref_id`` is the paging
    cursor. OKX's records name no order: ask per order with ``ord_id``.
    """

    ref_id: str
    type: str
    ccy: str
    amt: Decimal
    ts: datetime

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> LoanHistoryEntry:
        return cls(
            ref_id=_text(item, "refId"), type=_text(item, "type"), ccy=_text(item, "ccy"),
            amt=_amount(item, "amt"), ts=_ms_time(item, "ts"),
        )


@attrs.frozen
class InterestAccrued:
    """Interest charged on one loan currency for one period (``GET interest-accrued``).

    ``loan`` is the principal the interest was charged on, ``interest_rate`` the
    rate of the period as a fraction, and ``ts`` an aware UTC ``datetime``.
    """

    ref_id: str
    ccy: str
    loan: Decimal
    interest: Decimal
    interest_rate: Decimal
    ts: datetime

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> InterestAccrued:
        return cls(
            ref_id=_text(item, "refId"), ccy=_text(item, "ccy"), loan=_amount(item, "loan"),
            interest=_amount(item, "interest"), interest_rate=_amount(item, "interestRate"),
            ts=_ms_time(item, "ts"),
        )
