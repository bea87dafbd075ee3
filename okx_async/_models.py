"""Typed results. Each model is built from one OKX ``data`` item by ``from_okx``."""

from __future__ import annotations

from collections.abc import Mapping
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
