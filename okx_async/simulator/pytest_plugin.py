"""pytest fixtures that start OKX simulators, over loopback HTTP or in-process on virtual time.

Install ``okx-async[pytest]``. pytest loads this plugin by itself, through the
``pytest11`` entry point; with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, pass
``-p okx_async.simulator.pytest_plugin``.

On virtual time (no pytest-asyncio needed): the test body runs on a fresh
:class:`~okx_async.simulator.VirtualTimeLoop`, against an in-process simulator made
with the marker's options::

    import pytest

    @pytest.mark.okx_virtual(limit=5, window=2.0)
    async def test_bot(okx_virtual_simulator):
        async with okx_virtual_simulator.client() as okx:
            ...
        assert not okx_virtual_simulator.rejections()

Over loopback HTTP, on pytest-asyncio's loop (its default strict mode wants the
``asyncio`` marker)::

    @pytest.mark.asyncio
    async def test_bot(okx_simulator):
        async with OkxClient(DEMO_CREDENTIALS, base_url=okx_simulator.base_url) as okx:
            ...
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Generator
from types import ModuleType
from typing import Any, Final, Protocol, TypeVar, cast

import pytest

from ._app import Simulator
from ._virtual import run

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["SimulatorFactory", "okx_simulator", "okx_simulator_factory", "okx_virtual_simulator"]

#: The marker that puts an async test on virtual time; its keywords are simulator options.
VIRTUAL_MARKER: Final = "okx_virtual"
#: The fixture of the in-process simulator of a test on virtual time.
VIRTUAL_SIMULATOR: Final = "okx_virtual_simulator"
#: The simulators made for one test, closed on its loop when the test body ends.
_SIMULATORS = pytest.StashKey[list[Simulator]]()


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


# -- virtual time -------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{VIRTUAL_MARKER}(**simulator_options): run this async test on a virtual-time event "
        f"loop; the {VIRTUAL_SIMULATOR} fixture is an in-process Simulator(**simulator_options)",
    )


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, object, object]:
    """Give an async test on virtual time a plain function that runs it there.

    ``trylast`` puts this wrapper inside the others, pytest-asyncio's included: they
    see a plain function and leave the test alone, so it runs on no loop but ours.
    """
    made = yield
    items = made if isinstance(made, list) else [made]
    for item in items:
        if (
            isinstance(item, pytest.Function)
            and inspect.iscoroutinefunction(item.obj)
            and (item.get_closest_marker(VIRTUAL_MARKER) is not None
                 or VIRTUAL_SIMULATOR in item.fixturenames)
        ):
            _put_on_virtual_time(item)
    return made


def _put_on_virtual_time(item: pytest.Function) -> None:
    test = item.obj
    # pytest-asyncio would warn that the test is not async (it no longer is, to it).
    item.own_markers = [mark for mark in item.own_markers if mark.name != "asyncio"]

    @functools.wraps(test)
    def on_virtual_time(**fixtures: Any) -> None:
        _refuse_async_fixtures(item)

        async def body() -> None:
            try:
                await test(**fixtures)
            finally:
                for sim in item.stash.get(_SIMULATORS, []):
                    await sim.close()

        run(body())

    item.obj = on_virtual_time


def _refuse_async_fixtures(item: pytest.Function) -> None:
    """Async fixtures ran on another loop, whose objects do not work on this one."""
    names = sorted(
        name for name, defs in item._fixtureinfo.name2fixturedefs.items()
        # Unwrapped: some pytest-asyncio versions wrap async fixtures in plain functions.
        if defs and (inspect.iscoroutinefunction(inspect.unwrap(defs[-1].func))
                     or inspect.isasyncgenfunction(inspect.unwrap(defs[-1].func)))
    )
    if names:
        pytest.fail(
            f"{item.name} runs on virtual time, but the async fixture(s) {', '.join(names)} "
            "ran on another event loop; set up inside the test, or in plain fixtures",
            pytrace=False,
        )


@pytest.fixture(name=VIRTUAL_SIMULATOR)
def okx_virtual_simulator(request: pytest.FixtureRequest) -> Simulator:
    """An in-process simulator for a test on virtual time, with the marker's options.

    ``@pytest.mark.okx_virtual(limit=5, window=2.0, drop_rate=0.1)`` sets them; a test
    that asks for this fixture runs on virtual time with or without the marker.
    """
    marker = request.node.get_closest_marker(VIRTUAL_MARKER)
    if marker is not None and marker.args:
        pytest.fail(f"@pytest.mark.{VIRTUAL_MARKER} takes simulator options by keyword only",
                    pytrace=False)
    sim = Simulator(**(marker.kwargs if marker is not None else {}))
    request.node.stash.setdefault(_SIMULATORS, []).append(sim)
    return sim
