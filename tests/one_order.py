"""Simulators whose users hold one loan order, for tests about something else than orders.

The demo account has two orders (tests/test_orders.py and test_simulator_orders.py
cover it). A test of the limiter or the retry policy reads better against one order
holding every demo currency and owing 1000 USDT: each currency's max-redeem is then
its demo amount.
"""

from __future__ import annotations

from typing import Any

from okx_async.simulator import OrderSeed, Simulator
from okx_async.simulator._demo import DEFAULT_AMOUNTS
from okx_async.simulator.pytest_plugin import SimulatorFactory

ONE_ORDER = (OrderSeed(DEFAULT_AMOUNTS, {"USDT": "1000"}),)


def one_order(factory: SimulatorFactory) -> SimulatorFactory:
    """``factory``, seeding one order unless the test gives ``amounts`` or ``orders``."""

    async def start(**options: Any) -> Simulator:
        if "amounts" not in options and "orders" not in options:
            options["orders"] = ONE_ORDER
        return await factory(**options)

    return start
