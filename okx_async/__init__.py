"""okx-async: an asyncio client for the OKX v5 REST API with a per-user-ID rate limiter.

Example::

    from okx_async import OkxClient, Credentials

    async with OkxClient(Credentials.from_env()) as okx:
        print(await okx.max_collateral_redeem_amount("USDT"))
"""

import sys
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from types import FrameType
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
from ._retry import Retrying, RetryPolicy
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
    "Region",
    "Repaid",
    "RetryPolicy",
    "Retrying",
    "RiskWarning",
    "SentRequest",
    "Timeouts",
]

# Named only where it imports: ``from okx_async import *`` must work without the extra.
if find_spec("redis") is not None:
    __all__ += ["RedisLimiter"]

try:
    __version__ = version("okx-async")  # written once, in pyproject.toml
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

_NEEDS_REDIS = frozenset({"RedisLimiter"})
_REDIS_HINT = (
    "okx_async.{name} needs the redis package: install okx-async with its redis extra "
    "(from a clone: pip install -e '.[redis]'), or pip install 'redis>=5.0.1'"
)


def __getattr__(name: str) -> Any:
    # redis is an optional extra: import it only when its names are asked for.
    if name in _NEEDS_REDIS:
        try:
            from . import _redis
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("redis"):
                raise
            hint = _REDIS_HINT.format(name=name)
            # ``from okx_async import RedisLimiter`` turns an AttributeError into a bare
            # "cannot import name", losing the hint: raise ImportError there. Elsewhere
            # (hasattr, getattr with a default) Python expects an AttributeError.
            if _importing_from(sys._getframe(1)):
                raise ImportError(hint, name=__name__) from exc
            raise AttributeError(hint, name=name) from exc
        return getattr(_redis, name)
    raise AttributeError(f"module 'okx_async' has no attribute {name!r}", name=name)


def _importing_from(frame: FrameType | None) -> bool:
    """Whether ``frame`` is executing a ``from ... import NAME`` statement."""
    import dis

    if frame is None:
        return False
    return any(
        instruction.offset == frame.f_lasti and instruction.opname == "IMPORT_FROM"
        for instruction in dis.get_instructions(frame.f_code)
    )
