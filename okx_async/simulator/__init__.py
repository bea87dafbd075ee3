"""A local OKX v5 look-alike that verifies signatures and enforces the rate limit.

Usage::

    from okx_async.simulator import DEMO_CREDENTIALS, Simulator

    async with Simulator(limit=5, window=2.0) as sim:
        ...  # point a client at sim.base_url with DEMO_CREDENTIALS
        assert not sim.rejections()
"""

from ._account import LoanAccount, LoanOrder, OrderSeed
from ._algorithms import least_time_beside, max_in_any_window
from ._app import Arrival, Simulator, serve
from ._demo import (
    DEMO_CREDENTIALS,
    DEMO_CREDENTIALS_2,
    DEMO_KEYS,
    DEMO_UID,
    OTHER_USER_CREDENTIALS,
    TRADE_CREDENTIALS,
    SimKey,
)
from ._faults import Fault

__all__ = [
    "DEMO_CREDENTIALS",
    "DEMO_CREDENTIALS_2",
    "DEMO_KEYS",
    "DEMO_UID",
    "OTHER_USER_CREDENTIALS",
    "TRADE_CREDENTIALS",
    "Arrival",
    "Fault",
    "LoanAccount",
    "LoanOrder",
    "OrderSeed",
    "SimKey",
    "Simulator",
    "least_time_beside",
    "max_in_any_window",
    "serve",
]
