"""Endpoints as data: path, rate limit and result model. A new endpoint is a few lines."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from ._models import AccountConfig, MaxCollateralRedeemAmount, ServerTime
from ._window import RateLimit

T = TypeVar("T")


@attrs.frozen
class Endpoint(Generic[T]):
    """Everything a request needs besides its parameters.

    ``per_user`` says the limit is counted per user id (private endpoints); otherwise
    it is counted per IP and the client keys it by host.
    """

    method: str
    path: str
    rule: RateLimit
    model: Callable[[Mapping[str, Any]], T]
    private: bool = True
    per_user: bool = True


FIVE_PER_2S = RateLimit(5, 2.0)

MAX_COLLATERAL_REDEEM_AMOUNT = Endpoint(
    "GET",
    "/api/v5/finance/flexible-loan/max-collateral-redeem-amount",
    FIVE_PER_2S,
    MaxCollateralRedeemAmount.from_okx,
)
ACCOUNT_CONFIG = Endpoint("GET", "/api/v5/account/config", FIVE_PER_2S, AccountConfig.from_okx)
PUBLIC_TIME = Endpoint(
    "GET", "/api/v5/public/time", RateLimit(10, 2.0), ServerTime.from_okx,
    private=False, per_user=False,
)
