"""okx-async: an asyncio client for the OKX v5 REST API with a per-user-ID rate limiter.

Example::

    from okx_async import OkxClient, Credentials

    async with OkxClient(Credentials.from_env()) as okx:
        print(await okx.max_collateral_redeem_amount("USDT"))
"""

from typing import TYPE_CHECKING, Any

from ._client import OkxClient, Region
from ._credentials import Credentials
from ._endpoints import HISTORY_TYPES
from ._errors import (
    OkxAPIError,
    OkxAuthError,
    OkxBatchError,
    OkxClientClosedError,
    OkxConfigError,
    OkxConnectError,
    OkxError,
    OkxLimiterUnavailable,
    OkxNoOrderError,
    OkxParameterError,
    OkxRateLimitError,
    OkxResponseError,
    OkxServerBusyError,
    OkxTimeoutError,
    OkxTransportError,
    OkxUnknownOutcomeError,
    SentRequest,
)
from ._limiter import Limiter, LimitKey, MemoryLimiter, Outcome, Permit
from ._models import (
    BorrowCurrency,
    Borrowed,
    CollateralAsset,
    CurrencyAmount,
    InterestAccrued,
    LoanHistoryEntry,
    LoanOrder,
    MaxCollateralRedeemAmount,
    MaxLoan,
    Repaid,
    RiskWarning,
)
from ._retry import RetryPolicy
from ._transport import Timeouts
from ._window import RateLimit

if TYPE_CHECKING:
    from ._redis import RedisLimiter

__all__ = [
    "HISTORY_TYPES",
    "BorrowCurrency",
    "Borrowed",
    "CollateralAsset",
    "Credentials",
    "CurrencyAmount",
    "InterestAccrued",
    "LimitKey",
    "Limiter",
    "LoanHistoryEntry",
    "LoanOrder",
    "MaxCollateralRedeemAmount",
    "MaxLoan",
    "MemoryLimiter",
    "OkxAPIError",
    "OkxAuthError",
    "OkxBatchError",
    "OkxClient",
    "OkxClientClosedError",
    "OkxConfigError",
    "OkxConnectError",
    "OkxError",
    "OkxLimiterUnavailable",
    "OkxNoOrderError",
    "OkxParameterError",
    "OkxRateLimitError",
    "OkxResponseError",
    "OkxServerBusyError",
    "OkxTimeoutError",
    "OkxTransportError",
    "OkxUnknownOutcomeError",
    "Outcome",
    "Permit",
    "RateLimit",
    "RedisLimiter",
    "Region",
    "Repaid",
    "RetryPolicy",
    "RiskWarning",
    "SentRequest",
    "Timeouts",
]


_NEEDS_REDIS = frozenset({"RedisLimiter"})


def __getattr__(name: str) -> Any:
    # redis is an optional extra: import it only when its names are asked for.
    if name in _NEEDS_REDIS:
        try:
            from . import _redis
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("redis"):
                raise
            raise ImportError(
                f"okx_async.{name} needs the redis package: pip install 'okx-async[redis]'"
            ) from exc
        return getattr(_redis, name)
    raise AttributeError(f"module 'okx_async' has no attribute {name!r}")
