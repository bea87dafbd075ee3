"""A local OKX v5 look-alike that verifies signatures and enforces the rate limit.

Over loopback HTTP::

    from okx_async.simulator import DEMO_CREDENTIALS, Simulator

    async with Simulator(limit=5, window=2.0) as sim:
        ...  # point a client at sim.base_url with DEMO_CREDENTIALS
        assert not sim.rejections()

In-process on virtual time, at the real rule in no time::

    from okx_async.simulator import run_virtual

    async def scenario(sim):
        async with sim.client() as okx:
            return await okx.max_collateral_redeem_amounts(["BTC", "ETH", "USDT"])

    amounts = run_virtual(scenario)
"""

from ._account import LoanAccount, LoanOrder, OrderSeed
from ._app import Simulator, run_virtual, serve
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
from ._inprocess import InProcessTransport
from ._options import SimulatorOptions
from ._request import Arrival
from ._virtual import Deadlock, VirtualTimeLoop

__all__ = [
    "DEMO_CREDENTIALS",
    "DEMO_CREDENTIALS_2",
    "DEMO_KEYS",
    "DEMO_UID",
    "OTHER_USER_CREDENTIALS",
    "TRADE_CREDENTIALS",
    "Arrival",
    "Deadlock",
    "Fault",
    "InProcessTransport",
    "LoanAccount",
    "LoanOrder",
    "OrderSeed",
    "SimKey",
    "Simulator",
    "SimulatorOptions",
    "VirtualTimeLoop",
    "run_virtual",
    "serve",
]
