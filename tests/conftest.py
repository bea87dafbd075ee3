from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio

from okx_async import _limiter

pytest_plugins = [
    "okx_async.simulator.pytest_plugin", "real_time_guard", "redis_fixture", "static_checks",
]

@pytest.fixture(autouse=True)
def process_limiter_per_test() -> Iterator[None]:
    """Each test is a program of its own: it gets its own process-wide budgets.

    Within a test nothing is reset, so state carried from one event loop to the next
    (a second ``asyncio.run()``) is exercised as it is in a real process; see
    ``test_limiter.py::test_two_asyncio_runs_share_the_process_limiter_and_do_not_hang``.
    After the test, no budget may still count a permit as held or hold a waiter: every
    request a test started ended, whatever way it ended.
    """
    _limiter._default_limiter = None
    yield
    registry = _limiter._default_limiter
    _limiter._default_limiter = None
    if registry is not None:
        for key, bucket in registry._buckets.items():
            assert bucket._held == 0, f"{key}: {bucket._held} permits never released"
            assert not [w for w in bucket._waiters if not w.done()], f"{key}: waiters left"


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One plain aiohttp session per test, for tests that talk raw HTTP to the simulator."""
    async with aiohttp.ClientSession() as s:
        yield s
