from __future__ import annotations

from collections.abc import Iterator

import pytest

from okx_async import _limiter

pytest_plugins = ["okx_async.simulator.pytest_plugin", "redis_fixture"]


@pytest.fixture(autouse=True)
def fresh_process_limiter() -> Iterator[None]:
    """Each test starts with an empty process-wide budget registry, as a new process would."""
    _limiter._default_limiter = None
    yield
    _limiter._default_limiter = None
