"""``RetryPolicy.on_retry``: the caller hears of each retry, and its bugs change nothing."""

from __future__ import annotations

import logging

import pytest

from okx_async import OkxServerBusyError, Retrying, RetryPolicy
from okx_async.simulator import Simulator, run_virtual

REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"


def test_each_retry_is_told_with_what_failed_and_when_it_goes_again() -> None:
    heard: list[Retrying] = []
    retry = RetryPolicy(base_delay=0.5, jitter=0.0, on_retry=heard.append)

    async def scenario(sim: Simulator) -> float:
        async with sim.client(retry=retry) as okx:
            assert await okx.max_collateral_redeem_amount("BTC") is not None
        return len(sim.arrivals)

    arrivals = run_virtual(scenario, faults={REDEEM: ["server-error", "busy"]})
    assert [(r.method, r.path, r.attempt, r.delay) for r in heard] == [
        ("GET", REDEEM, 2, 0.5), ("GET", REDEEM, 3, 1.0)
    ]
    assert [type(r.error) for r in heard] == [OkxServerBusyError] * 2
    assert [r.error.code for r in heard if isinstance(r.error, OkxServerBusyError)] == [
        "50001", "50013"
    ]
    assert arrivals == 4  # the uid lookup, two failures, the answer


def test_a_hook_that_raises_is_logged_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(retry: Retrying) -> None:
        raise ValueError("the caller's bug")

    async def scenario(sim: Simulator) -> object:
        async with sim.client(retry=RetryPolicy(base_delay=0.1, on_retry=broken)) as okx:
            return await okx.max_collateral_redeem_amount("BTC")

    with caplog.at_level(logging.ERROR, logger="okx_async"):
        assert run_virtual(scenario, faults={REDEEM: ["busy"]}) is not None
    assert "on_retry raised" in caplog.text and "the caller's bug" in caplog.text
