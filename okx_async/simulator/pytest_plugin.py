"""pytest fixtures that start OKX simulators.

Opt in from a ``conftest.py``::

    pytest_plugins = ["okx_async.simulator.pytest_plugin"]

    async def test_bot(okx_simulator):
        ...  # talk to okx_simulator.base_url with okx_async.simulator.DEMO_CREDENTIALS
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest_asyncio

from ._app import Simulator

__all__ = ["SimulatorFactory", "okx_simulator", "okx_simulator_factory"]


class SimulatorFactory(Protocol):
    """Starts a :class:`Simulator` with the given options."""

    async def __call__(self, **options: Any) -> Simulator:
        """Start and return a simulator; the fixture closes it at teardown."""
        ...


@pytest_asyncio.fixture
async def okx_simulator() -> AsyncIterator[Simulator]:
    """A started simulator with the default options, closed after the test."""
    async with Simulator() as sim:
        yield sim


@pytest_asyncio.fixture
async def okx_simulator_factory() -> AsyncIterator[SimulatorFactory]:
    """An async ``**options -> Simulator`` that starts simulators and closes them all."""
    started: list[Simulator] = []

    async def factory(**options: Any) -> Simulator:
        sim = await Simulator(**options).start()
        started.append(sim)
        return sim

    try:
        yield factory
    finally:
        for sim in reversed(started):
            await sim.close()
