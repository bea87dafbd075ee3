"""okx-async: an asyncio client for the OKX v5 REST API with a per-user-ID rate limiter.

Example::

    from okx_async import OkxClient, Credentials

    async with OkxClient(Credentials.from_env()) as okx:
        print(await okx.max_collateral_redeem_amount("USDT"))
"""

from ._client import OkxClient, Region
from ._credentials import Credentials
from ._errors import (
    OkxAPIError,
    OkxAuthError,
    OkxBatchError,
    OkxConfigError,
    OkxError,
    OkxParameterError,
    OkxRateLimitError,
    OkxResponseError,
    OkxServerBusyError,
    OkxTransportError,
)
from ._limiter import Limiter, LimitKey, MemoryLimiter, RateLimit, SlidingWindow, default_limiter
from ._models import MaxCollateralRedeemAmount
from ._retry import RetryPolicy
from ._transport import OkxTimeoutError, Timeouts

__all__ = [
    "Credentials",
    "LimitKey",
    "Limiter",
    "MaxCollateralRedeemAmount",
    "MemoryLimiter",
    "OkxAPIError",
    "OkxAuthError",
    "OkxBatchError",
    "OkxClient",
    "OkxConfigError",
    "OkxError",
    "OkxParameterError",
    "OkxRateLimitError",
    "OkxResponseError",
    "OkxServerBusyError",
    "OkxTimeoutError",
    "OkxTransportError",
    "RateLimit",
    "Region",
    "RetryPolicy",
    "SlidingWindow",
    "Timeouts",
    "default_limiter",
]
