"""pytest fixtures that start OKX simulators.

Install ``okx-async[pytest]`` (it brings pytest-asyncio). pytest loads this plugin by
itself, through the ``pytest11`` entry point; with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``
set, pass ``-p okx_async.simulator.pytest_plugin``. The fixtures work in
pytest-asyncio's default strict mode: mark the test ``@pytest.mark.asyncio``::

    import pytest
    from okx_async import OkxClient
    from okx_async.simulator import DEMO_CREDENTIALS

    @pytest.mark.asyncio
    async def test_bot(okx_simulator):
        async with OkxClient(DEMO_CREDENTIALS, base_url=okx_simulator.base_url) as okx:
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any, Protocol, TypeVar, cast

import pytest

from ._app import Simulator

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["SimulatorFactory", "okx_simulator", "okx_simulator_factory"]


def _needs_pytest_asyncio(function: Callable[..., Any]) -> Any:
    """A fixture that fails with the fix, in place of one pytest-asyncio would run."""

    def missing() -> None:
        pytest.fail(
            f"the {function.__name__} fixture needs pytest-asyncio: "
            "pip install 'okx-async[pytest]'",
            pytrace=False,
        )

    missing.__doc__ = function.__doc__
    return pytest.fixture(name=function.__name__)(missing)


# pytest loads this module in every session of an environment that has okx-async, so
# a missing pytest-asyncio must fail only the tests that use these fixtures.
_pytest_asyncio: ModuleType | None
try:
    import pytest_asyncio as _pytest_asyncio
except ModuleNotFoundError as exc:
    if exc.name != "pytest_asyncio":
        raise
    _pytest_asyncio = None


def _fixture(function: _F) -> _F:
    if _pytest_asyncio is None:
        return cast(_F, _needs_pytest_asyncio(function))
    return cast(_F, _pytest_asyncio.fixture(function))


class SimulatorFactory(Protocol):
    """Starts a :class:`Simulator` with the given options."""

    async def __call__(self, **options: Any) -> Simulator:
        """Start and return a simulator; the fixture closes it at teardown."""
        ...


@_fixture
async def okx_simulator() -> AsyncIterator[Simulator]:
    """A started simulator with the default options, closed after the test."""
    async with Simulator() as sim:
        yield sim


@_fixture
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
