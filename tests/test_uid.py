"""The user-id lookup: one per API key, shared by the calls that wait for it."""

from __future__ import annotations

import asyncio

import pytest

from okx_async import (
    MaxCollateralRedeemAmount,
    OkxBatchError,
    OkxClient,
    OkxConnectError,
    OkxServerBusyError,
    RetryPolicy,
)
from okx_async.simulator import DEMO_CREDENTIALS, DEMO_UID, Simulator, run_virtual

CONFIG = "/api/v5/account/config"
REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"
CCYS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LTC", "DOT"]


def test_a_failed_lookup_fails_every_waiting_call_at_once() -> None:
    retry = RetryPolicy(max_attempts=4, base_delay=1.0, jitter=0.0)

    async def scenario(sim: Simulator) -> tuple[OkxBatchError, float]:
        loop = asyncio.get_running_loop()
        okx = sim.client(retry=retry)  # no user_id: the first call looks it up
        await sim.close()  # the host is gone: every attempt fails to connect
        with pytest.raises(OkxBatchError) as caught:
            await okx.max_collateral_redeem_amounts(CCYS)
        await okx.aclose()
        return caught.value, loop.time()

    batch, ended = run_virtual(scenario)
    assert set(batch.errors) == set(CCYS)
    assert all(isinstance(e, OkxConnectError) for e in batch.errors.values())
    # One lookup's backoffs (1 + 2 + 4 s), not one lookup per queued call.
    assert ended == pytest.approx(7.0, abs=0.1)


def test_the_calls_waiting_on_a_cancelled_lookup_look_it_up_themselves() -> None:
    async def scenario(
        sim: Simulator,
    ) -> tuple[list[MaxCollateralRedeemAmount | BaseException | None], int]:
        okx = sim.client()
        owner = asyncio.ensure_future(okx.max_collateral_redeem_amount("BTC"))
        await asyncio.sleep(0)  # the owner starts the lookup
        waiters = [asyncio.ensure_future(okx.max_collateral_redeem_amount(c)) for c in CCYS[1:3]]
        await asyncio.sleep(0)
        owner.cancel()
        results = await asyncio.gather(owner, *waiters, return_exceptions=True)
        lookups = [a for a in sim.arrivals if a.endpoint == CONFIG]
        await okx.aclose()
        return results, len(lookups)

    results, lookups = run_virtual(scenario, response_latency=(0.1, 0.1))
    assert isinstance(results[0], asyncio.CancelledError)
    assert [r.ccy for r in results[1:] if isinstance(r, MaxCollateralRedeemAmount)] == CCYS[1:3]
    assert lookups >= 1


def test_a_later_call_tries_the_lookup_again() -> None:
    async def scenario(sim: Simulator) -> tuple[str | None, int]:
        async with sim.client(retry=RetryPolicy.disabled()) as okx:
            with pytest.raises(OkxServerBusyError):  # the lookup met a 50001
                await okx.max_collateral_redeem_amount("BTC")
            await okx.max_collateral_redeem_amount("BTC")
            return okx.user_id, len([a for a in sim.arrivals if a.endpoint == CONFIG])

    assert run_virtual(scenario, faults={CONFIG: ["server-error"]}) == (DEMO_UID, 2)


async def test_a_new_simulator_on_a_port_used_before_is_looked_up_again() -> None:
    """The directory keeps uids per host for the whole process; a simulator started on
    a port an earlier one served is another server, whose users are looked up anew."""
    async with Simulator() as first, OkxClient(DEMO_CREDENTIALS, base_url=first.base_url) as okx:
        await okx.max_collateral_redeem_amount("BTC")
        assert okx.user_id == DEMO_UID
        port = int(first.base_url.rsplit(":", 1)[1])
    async with Simulator(port=port) as second:
        assert second.base_url == first.base_url
        async with OkxClient(DEMO_CREDENTIALS, base_url=second.base_url) as okx:
            assert okx.user_id is None
            await okx.max_collateral_redeem_amount("BTC")
        assert [a.endpoint for a in second.arrivals] == [CONFIG, REDEEM]
