"""The simulator in-process: the same answers as over loopback HTTP, through the same seam.

Requests go through the client's ``Transport`` both ways (``AiohttpTransport`` to the
HTTP front, ``sim.transport()`` in-process), so one table of cases checks both fronts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

import attrs
import pytest
import pytest_asyncio

from okx_async import (
    Credentials,
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
from okx_async._signing import okx_timestamp, sign
from okx_async._transport import AiohttpTransport, Transport
from okx_async.simulator import (
    DEMO_CREDENTIALS,
    DEMO_UID,
    TRADE_CREDENTIALS,
    Simulator,
    VirtualTimeLoop,
    run_virtual,
)

REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount?ccy=USDT"
ADJUST = "/api/v5/finance/flexible-loan/adjust-collateral"
LOAN_INFO = "/api/v5/finance/flexible-loan/loan-info"
TIME = "/api/v5/public/time"
WRONG_SECRET = attrs.evolve(DEMO_CREDENTIALS, secret_key="not-the-secret")
WRONG_PASSPHRASE = attrs.evolve(DEMO_CREDENTIALS, passphrase="not-the-passphrase")
UNKNOWN_KEY = attrs.evolve(DEMO_CREDENTIALS, api_key="no-such-key")


@attrs.define
class Front:
    """One simulator and a transport to it, over HTTP or in-process."""

    sim: Simulator
    transport: Transport
    base_url: str

    async def send(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        credentials: Credentials = DEMO_CREDENTIALS,
        *,
        timestamp: str | None = None,
        signed_target: str | None = None,
        signed_body: bytes | None = None,
        content_type: str | None = "application/json",
        omit: Iterable[str] = (),
        lower_case: bool = False,
    ) -> tuple[int, Any]:
        """Send ``target`` signed the OKX v5 way (optionally sabotaged); status and JSON."""
        timestamp = okx_timestamp() if timestamp is None else timestamp
        signature = sign(
            credentials.secret_key.encode(), timestamp, method, signed_target or target,
            body if signed_body is None else signed_body,
        )
        headers = {
            "OK-ACCESS-KEY": credentials.api_key,
            "OK-ACCESS-SIGN": signature,
            "OK-ACCESS-TIMESTAMP": timestamp,
            "OK-ACCESS-PASSPHRASE": credentials.passphrase,
        }
        if method == "POST" and content_type is not None:
            headers["Content-Type"] = content_type
        for name in omit:
            del headers[name]
        if lower_case:
            headers = {name.lower(): value for name, value in headers.items()}
        status, raw = await self.transport.request(method, self.base_url + target, headers, body)
        return status, json.loads(raw)


FrontFactory = Callable[..., Awaitable[Front]]


@pytest_asyncio.fixture(params=["http", "in-process"])
async def open_front(request: pytest.FixtureRequest) -> AsyncIterator[FrontFactory]:
    """``await open_front(**options)``: a simulator and a transport, over HTTP or in-process."""
    opened: list[Front] = []

    async def factory(**options: Any) -> Front:
        sim = Simulator(**options)
        if request.param == "http":
            await sim.start()
            front = Front(sim, AiohttpTransport(), sim.base_url)
        else:
            front = Front(sim, sim.transport(), "http://anything.invalid")
        opened.append(front)
        return front

    try:
        yield factory
    finally:
        for front in opened:
            await front.transport.aclose()
            await front.sim.close()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, "0"),
        ({"lower_case": True}, "0"),  # header names are case-insensitive
        ({"credentials": WRONG_SECRET}, "50113"),
        ({"signed_target": REDEEM.partition("?")[0]}, "50113"),  # the query is signed
        ({"credentials": WRONG_PASSPHRASE}, "50105"),
        ({"credentials": UNKNOWN_KEY}, "50111"),
        ({"clock_offset": -31.0}, "50102"),
        ({"clock_offset": +31.0}, "50102"),
        ({"timestamp": "2020-12-08T09:08:57Z"}, "50112"),
        ({"omit": ["OK-ACCESS-KEY"]}, "50103"),
        ({"omit": ["OK-ACCESS-PASSPHRASE"]}, "50104"),
        ({"omit": ["OK-ACCESS-SIGN"]}, "50106"),
        ({"omit": ["OK-ACCESS-TIMESTAMP"]}, "50107"),
    ],
)
async def test_auth_is_checked_alike_both_ways_and_a_refusal_costs_nothing(
    open_front: FrontFactory, kwargs: dict[str, Any], code: str
) -> None:
    front = await open_front(limit=1, window=60)
    if "clock_offset" in kwargs:
        kwargs = {"timestamp": okx_timestamp(front.sim.wall_time() + kwargs["clock_offset"])}
    status, body = await front.send("GET", REDEEM, **kwargs)
    assert body["code"] == code
    assert (status == 200) == (code == "0")
    if code != "0":
        assert front.sim.arrivals == []
        # The refused request took no budget: the single allowed one still passes.
        assert (await front.send("GET", REDEEM))[1]["code"] == "0"


@pytest.mark.parametrize(
    ("body", "kwargs", "code"),
    [
        (b'{"type":"add","collateralCcy":"BTC","collateralAmt":"1"}', {}, "0"),
        # The body is signed byte for byte: the same JSON spelt otherwise fails.
        (b'{"type": "add", "collateralCcy": "BTC", "collateralAmt": "1"}',
         {"signed_body": b'{"type":"add","collateralCcy":"BTC","collateralAmt":"1"}'}, "50113"),
        (b'{"type":"add","collateralCcy":"BTC","collateralAmt":"1"}',
         {"content_type": "text/plain"}, "50002"),
        (b"not json", {}, "50002"),
        (b'{"type":"add","collateralCcy":"BTC","collateralAmt":"-1"}', {}, "51000"),
    ],
)
async def test_a_write_is_checked_over_its_exact_body_both_ways(
    open_front: FrontFactory, body: bytes, kwargs: dict[str, Any], code: str
) -> None:
    front = await open_front()
    before = front.sim.account(DEMO_UID).loan_info()
    _, answer = await front.send("POST", ADJUST, body, TRADE_CREDENTIALS, **kwargs)
    assert answer["code"] == code
    changed = front.sim.account(DEMO_UID).loan_info() != before
    assert changed == (code == "0")


async def test_every_endpoint_answers_alike_both_ways() -> None:
    async def answers_of(front: Front) -> dict[tuple[str, str], tuple[int, str, list[str]]]:
        seen = {}
        for method, path in sorted(front.sim._routes):
            status, answer = await front.send(
                method, path, b"{}" if method == "POST" else b"", TRADE_CREDENTIALS
            )
            first = (answer.get("data") or [{}])[0]
            seen[method, path] = (status, answer["code"], sorted(first))
        return seen

    transport = AiohttpTransport()
    in_process = Simulator()
    try:
        async with Simulator() as over_http:
            http = await answers_of(Front(over_http, transport, over_http.base_url))
        mine = await answers_of(Front(in_process, in_process.transport(), "http://x.invalid"))
    finally:
        await transport.aclose()
        await in_process.close()
    assert mine == http
    assert {code for _, code, _ in mine.values()} >= {"0", "51000"}


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
