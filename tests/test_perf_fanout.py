"""A fan-out runs as many requests at once as its budget can let through, and no more.

On virtual time with the in-process simulator: the worker count, and that the
schedule of arrivals is the one the limiter alone gives.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okx_async import MaxCollateralRedeemAmount, OkxBatchError, RateLimit
from okx_async._request import _query
from okx_async.simulator import Simulator, run_virtual

REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"
CCYS = [f"C{i:03d}" for i in range(23)]


def _any_amount(ccy: str) -> str:
    return "1.5"


def _fan_out(limit: int = 5, **client: Any) -> tuple[int, list[float]]:
    """The most workers at once in a fan-out over CCYS (the calling task is one), and
    the arrival times."""

    async def scenario(sim: Simulator) -> tuple[int, list[float]]:
        peak = 0

        def seen(ccy: str, result: MaxCollateralRedeemAmount | Exception | None) -> None:
            nonlocal peak
            names = [getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks()]
            peak = max(peak, 1 + sum("fan_out" in name for name in names))

        async with sim.client(user_id="1", **client) as okx:
            results = await okx.max_collateral_redeem_amounts(CCYS, on_result=seen)
        assert list(results) == CCYS
        return peak, [a.t for a in sim.arrivals if a.endpoint == REDEEM]

    return run_virtual(scenario, amounts=_any_amount, limit=limit)


def _gathered() -> list[float]:
    """The arrival times of the same calls made one by one, all at once."""

    async def scenario(sim: Simulator) -> list[float]:
        async with sim.client(user_id="1") as okx:
            await asyncio.gather(*(okx.max_collateral_redeem_amount(c) for c in CCYS))
        return [a.t for a in sim.arrivals if a.endpoint == REDEEM]

    return run_virtual(scenario, amounts=_any_amount)


def test_a_fan_out_at_5_per_2s_runs_6_workers_and_arrives_as_the_limiter_lets_it() -> None:
    peak, arrivals = _fan_out()
    # The calling task and five helpers: the burst and one in line; more would only wait.
    assert peak == 6
    assert arrivals == _gathered()


def test_a_looser_rule_gets_more_workers_up_to_the_client_concurrency() -> None:
    peak, _ = _fan_out(50, rate_limits={REDEEM: RateLimit(50, 2.0)})
    assert peak == 16
    peak, _ = _fan_out(50, rate_limits={REDEEM: RateLimit(50, 2.0)}, fanout_concurrency=3)
    assert peak == 3
    peak, _ = _fan_out(rate_limits={REDEEM: RateLimit(1, 2.0)})
    assert peak == 2


def test_one_worker_fan_out_still_keeps_every_result_and_failure() -> None:
    async def scenario(sim: Simulator) -> OkxBatchError:
        async with sim.client(user_id="1", fanout_concurrency=1) as okx:
            with pytest.raises(OkxBatchError) as caught:
                await okx.max_collateral_redeem_amounts(["BTC", "NOPE", "ETH"])
        return caught.value

    def amounts(ccy: str) -> str:
        if ccy == "NOPE":
            raise KeyError(ccy)
        return "2"

    error = run_virtual(scenario, amounts=amounts)
    assert list(error.results) == ["BTC", "ETH"]
    assert list(error.errors) == ["NOPE"]


@given(st.dictionaries(st.text(max_size=6), st.one_of(st.text(max_size=8), st.integers())))
def test_the_query_is_what_urlencode_builds(wire: dict[str, object]) -> None:
    assert _query(wire) == urlencode(wire, quote_via=quote)


def test_while_the_user_is_looked_up_every_worker_waits_for_that_one_lookup() -> None:
    async def scenario(sim: Simulator) -> tuple[int, int]:
        peaks: list[int] = []

        def seen(ccy: str, result: MaxCollateralRedeemAmount | Exception | None) -> None:
            names = [getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks()]
            peaks.append(1 + sum("fan_out" in name for name in names))

        async with sim.client() as okx:  # no user_id: the first call looks it up
            await okx.max_collateral_redeem_amounts(CCYS, on_result=seen)
            first = max(peaks)
            peaks.clear()
            await okx.max_collateral_redeem_amounts(CCYS, on_result=seen)
        return first, max(peaks)

    first, known = run_virtual(scenario, amounts=_any_amount)
    assert (first, known) == (16, 6)
