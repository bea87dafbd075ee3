"""The in-process simulator on virtual time: faults, latency, timeouts, closing and clocks."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from okx_async import (
    MemoryLimiter,
    OkxClientClosedError,
    OkxConnectError,
    OkxRateLimitError,
    OkxResponseError,
    OkxServerBusyError,
    OkxTimeoutError,
    OkxTransportError,
    OkxUnknownOutcomeError,
    RateLimit,
    RetryPolicy,
    Timeouts,
)
from okx_async.simulator import (
    DEMO_UID,
    TRADE_CREDENTIALS,
    Simulator,
    VirtualTimeLoop,
    run_virtual,
)

ADJUST = "/api/v5/finance/flexible-loan/adjust-collateral"
LOAN_INFO = "/api/v5/finance/flexible-loan/loan-info"

# -- faults, latency and timeouts, on virtual time -----------------------------------

ONCE = RetryPolicy.disabled()


@pytest.mark.okx_virtual(drop_rate=1.0)
async def test_a_dropped_answer_is_a_transport_error_and_the_write_ran_once(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    before = sim.account(DEMO_UID).collateral.get("BTC", Decimal(0))
    async with sim.client(TRADE_CREDENTIALS, user_id=DEMO_UID) as okx:
        with pytest.raises(OkxUnknownOutcomeError) as caught:
            await okx.adjust_collateral("add", "BTC", Decimal("1"))
        with pytest.raises(OkxTransportError):
            await okx.loan_info()  # a read is retried, and every answer is dropped
    assert isinstance(caught.value.__cause__, OkxTransportError)
    assert not isinstance(caught.value.__cause__, OkxConnectError)  # it was sent
    write, *reads = sim.arrivals
    assert (write.endpoint, write.status, write.code) == (ADJUST, 0, "")
    assert len(reads) == RetryPolicy().max_attempts
    # Executed once, although its answer was lost: never resent.
    assert sim.account(DEMO_UID).collateral["BTC"] - before == 1


@pytest.mark.okx_virtual(html_error_rate=1.0)
async def test_an_html_502_reaches_the_client_as_over_http(
    okx_virtual_simulator: Simulator,
) -> None:
    async with okx_virtual_simulator.client(user_id=DEMO_UID, retry=ONCE) as okx:
        with pytest.raises(OkxResponseError) as caught:
            await okx.loan_info()
    assert caught.value.http_status == 502
    assert "not JSON" in str(caught.value)
    assert [(a.status, a.code) for a in okx_virtual_simulator.arrivals] == [(502, "")]


@pytest.mark.okx_virtual(busy_rate=1.0)
async def test_a_busy_server_is_50013_as_over_http(okx_virtual_simulator: Simulator) -> None:
    async with okx_virtual_simulator.client(user_id=DEMO_UID, retry=ONCE) as okx:
        with pytest.raises(OkxServerBusyError, match="50013"):
            await okx.loan_info()


@pytest.mark.okx_virtual(request_latency=(0.25, 0.25), response_latency=(1.5, 1.5))
async def test_latency_is_virtual_time_on_each_leg(okx_virtual_simulator: Simulator) -> None:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    async with okx_virtual_simulator.client(user_id=DEMO_UID) as okx:
        sent = loop.time()
        await okx.loan_info()
        answered = loop.time()
    [arrival] = okx_virtual_simulator.arrivals
    assert arrival.t - sent == 0.25
    assert answered - arrival.t == 1.5
    assert time.perf_counter() - started < 0.5


@pytest.mark.okx_virtual(response_latency=(20.0, 20.0))
async def test_a_timeout_ends_the_wait_at_timeouts_total_and_the_write_still_ran(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    loop = asyncio.get_running_loop()
    before = sim.account(DEMO_UID).collateral.get("BTC", Decimal(0))
    options: dict[str, Any] = {"user_id": DEMO_UID, "timeouts": Timeouts(total=5.0)}
    async with sim.client(TRADE_CREDENTIALS, **options) as okx:
        with pytest.raises(OkxUnknownOutcomeError) as caught:
            await okx.adjust_collateral("add", "BTC", Decimal("1"))
    assert isinstance(caught.value.__cause__, OkxTimeoutError)
    assert loop.time() == 5.0
    # It executed when it arrived; only its answer was still on the way back.
    assert sim.account(DEMO_UID).collateral["BTC"] - before == 1


@pytest.mark.okx_virtual(request_latency=(20.0, 20.0))
async def test_a_request_given_up_on_may_still_arrive_later_as_over_http(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    options: dict[str, Any] = {"user_id": DEMO_UID, "timeouts": Timeouts(total=5.0)}
    async with sim.client(retry=ONCE, **options) as okx:
        with pytest.raises(OkxTimeoutError):
            await okx.loan_info()
        assert sim.arrivals == []
        await asyncio.sleep(20)
    [late] = sim.arrivals
    assert (late.t, late.code) == (20.0, "0")


@pytest.mark.okx_virtual(response_latency=(10.0, 10.0))
async def test_a_call_cancelled_in_flight_ends_at_once_and_the_server_finishes(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    async with sim.client(user_id=DEMO_UID) as okx:
        call = asyncio.ensure_future(okx.loan_info())
        await asyncio.sleep(1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert asyncio.get_running_loop().time() == 1.0
    assert [a.code for a in sim.arrivals] == ["0"]


@pytest.mark.okx_virtual(response_latency=(10.0, 10.0))
async def test_closing_the_client_ends_a_request_in_flight(
    okx_virtual_simulator: Simulator,
) -> None:
    okx = okx_virtual_simulator.client(user_id=DEMO_UID)
    call = asyncio.ensure_future(okx.loan_info())
    await asyncio.sleep(1)
    await okx.aclose()
    with pytest.raises(OkxClientClosedError):
        await call
    with pytest.raises(OkxClientClosedError):
        await okx.loan_info()


@pytest.mark.okx_virtual
async def test_a_closed_simulator_refuses_the_connection(
    okx_virtual_simulator: Simulator,
) -> None:
    await okx_virtual_simulator.close()
    async with okx_virtual_simulator.client(user_id=DEMO_UID, retry=ONCE) as okx:
        with pytest.raises(OkxConnectError):
            await okx.loan_info()


@pytest.mark.okx_virtual(response_latency=(10.0, 10.0))
async def test_closing_the_simulator_drops_what_is_in_progress(
    okx_virtual_simulator: Simulator,
) -> None:
    async with okx_virtual_simulator.client(user_id=DEMO_UID, retry=ONCE) as okx:
        call = asyncio.ensure_future(okx.loan_info())
        await asyncio.sleep(1)
        await okx_virtual_simulator.close()
        with pytest.raises(OkxTransportError):
            await call


# -- clocks ---------------------------------------------------------------------------


@pytest.mark.okx_virtual
async def test_signatures_still_pass_after_a_simulated_day(
    okx_virtual_simulator: Simulator,
) -> None:
    # The client signs with the real clock, which a simulated day does not move.
    sim = okx_virtual_simulator
    start = sim.wall_time()
    async with sim.client(TRADE_CREDENTIALS, user_id=DEMO_UID, retry=ONCE) as okx:
        await okx.loan_info()
        await asyncio.sleep(86_400)
        await okx.adjust_collateral("add", "BTC", Decimal("1"))
        # /public/time tells the clock signatures are checked by: nothing to correct.
        assert abs(await okx.sync_clock()) < 1.0
    # The server's records follow the loop: the write is a day later on its clock.
    entry = sim.account(DEMO_UID).history[-1]
    assert entry.type == "collateral_locked"
    assert entry.ts / 1000 - start == pytest.approx(86_400, abs=1.0)
    assert sim.wall_time() - start == pytest.approx(86_400, abs=1.0)


@pytest.mark.okx_virtual(clock_skew=100.0)
async def test_a_skewed_server_clock_is_measured_once_and_then_accepted(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    async with sim.client(user_id=DEMO_UID) as okx:
        for _ in range(3):
            await okx.loan_info()
            await asyncio.sleep(3600)
        offset = await okx.sync_clock()
    assert offset == pytest.approx(100.0, abs=1.0)
    assert [a.code for a in sim.arrivals] == ["0"] * 3


def test_a_simulator_does_not_move_to_a_loop_whose_clock_is_behind() -> None:
    sim = Simulator()

    async def visit(seconds: float) -> None:
        # A limiter of its own: the simulator's would hold the request until the new
        # loop's clock caught up with the slots the old one left cooling.
        async with sim.client(user_id=DEMO_UID, limiter=MemoryLimiter()) as okx:
            await asyncio.sleep(seconds)
            await okx.loan_info()

    first = VirtualTimeLoop()
    try:
        first.run_until_complete(visit(10))
    finally:
        first.close()
    second = VirtualTimeLoop()  # back at 0: its windows would be meaningless
    try:
        with pytest.raises(RuntimeError, match="create a new Simulator"):
            second.run_until_complete(visit(0))
    finally:
        second.close()


# -- set-up ---------------------------------------------------------------------------


def test_http_needs_a_real_loop() -> None:
    async def scenario(sim: Simulator) -> None:
        await sim.start()

    with pytest.raises(RuntimeError, match="real event loop"):
        run_virtual(scenario)


def test_client_wires_itself() -> None:
    sim = Simulator()
    with pytest.raises(TypeError, match="sets base_url itself"):
        sim.client(base_url="https://www.okx.com")


async def test_the_in_process_clients_share_one_budget_on_a_real_loop_too() -> None:
    sim = Simulator(limit=2, window=0.2)
    options: dict[str, Any] = {"user_id": DEMO_UID, "retry": ONCE,
                               "rate_limits": {LOAN_INFO: RateLimit(2, 0.2)}}
    try:
        async with sim.client(**options) as one, sim.client(**options) as two:
            assert not isinstance(asyncio.get_running_loop(), VirtualTimeLoop)
            await asyncio.gather(*(c.loan_info() for c in (one, two, one, two)))
        assert sim.rejections() == []
        # A client with a limiter of its own does not know what the others spent.
        async with sim.client(limiter=MemoryLimiter(), **options) as own:
            with pytest.raises(OkxRateLimitError):
                await asyncio.gather(own.loan_info(), own.loan_info())
    finally:
        await sim.close()
