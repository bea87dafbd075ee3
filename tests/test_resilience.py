"""Riding through what a bot meets in weeks: faults, odd servers, skew, cancellation.

The server's counting, the clock and the retries run in-process on virtual time at
OKX's real rule; timeouts, sockets and secrets in aiohttp's errors over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Mapping
from decimal import Decimal

import aiohttp
import psutil
import pytest
from chain import assert_no_secret, signature_recorder
from schedule import COOL, ENDPOINT, assert_schedule, full_speed

from okx_async import (
    Credentials,
    LimitKey,
    MemoryLimiter,
    OkxAuthError,
    OkxBatchError,
    OkxClient,
    OkxError,
    OkxServerBusyError,
    OkxTimeoutError,
    OkxTransportError,
    RateLimit,
    RetryPolicy,
    Timeouts,
)
from okx_async.simulator import (
    DEMO_CREDENTIALS,
    DEMO_CREDENTIALS_2,
    DEMO_UID,
    Simulator,
    run_virtual,
)
from okx_async.simulator.pytest_plugin import SimulatorFactory

#: The scaled rule of the loopback HTTP tests.
WINDOW = 0.05
CONFIG = "/api/v5/account/config"
RULES = {ENDPOINT: RateLimit(5, WINDOW), CONFIG: RateLimit(5, WINDOW)}
QUICK_RETRY = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.2)
#: Each leg 70 to 90 ms: jitter within a third of the path's fixed part, the bound
#: the limiter's round-trip credit is designed for (docs/limiter.md, assumption A).
LEG = (0.07, 0.09)


def ccys(n: int) -> list[str]:
    return [f"C{i:04d}" for i in range(n)]


def amount_of(ccy: str) -> str | None:
    """Any code of the form C1234 exists, worth its number divided by 100."""
    return f"{int(ccy[1:]) / 100:.2f}" if ccy[:1] == "C" and ccy[1:].isdigit() else None


def client_tasks() -> set[asyncio.Task[object]]:
    """Tasks alive now, leaving out the simulator's request handlers (HTTP or in-process)."""
    return {
        t for t in asyncio.all_tasks()
        if not t.get_coro().__qualname__.startswith(  # type: ignore[union-attr]
            ("RequestHandler.", "SimulatorCore.handle")
        )
    }


def now() -> float:
    return asyncio.get_running_loop().time()


def client_sockets(port: int) -> list[object]:
    return [
        c for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    ]


# The retry policy on its own -------------------------------------------------------


def test_retry_policy_backs_off_exponentially_with_a_cap_and_jitter() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=1.0, jitter=0.5)
    for attempt, full in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = {policy.backoff(attempt) for _ in range(50)}
        assert all(full * 0.5 <= d <= full for d in delays)
        assert len(delays) > 1  # jittered


# Servers that count differently ----------------------------------------------------


ALGORITHMS = ["sliding-log", "fixed-window", "token-bucket"]


async def three_clients(sim: Simulator, n: int) -> None:
    """Three clients of one user share ``n`` currencies, with no retry to hide a 50011."""
    clients = [sim.client(creds, user_id=DEMO_UID, retry=RetryPolicy.disabled())
               for creds in (DEMO_CREDENTIALS, DEMO_CREDENTIALS_2, DEMO_CREDENTIALS)]
    batches = [ccys(n)[i::3] for i in range(3)]
    outcomes = await asyncio.gather(
        *(c.max_collateral_redeem_amounts(b) for c, b in zip(clients, batches, strict=True))
    )
    for c in clients:
        await c.aclose()
    assert sum(len(o) for o in outcomes) == n


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_rejection_whatever_the_servers_window(algorithm: str) -> None:
    async def scenario(sim: Simulator) -> None:
        await three_clients(sim, 40)
        # Answered at once: a burst per window, each as soon as it may go.
        assert [a.t for a in sim.arrivals] == full_speed(40)
        assert_schedule(sim.arrivals)

    run_virtual(scenario, algorithm=algorithm, amounts=amount_of)  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("seed", range(3))
def test_no_rejection_whatever_the_servers_window_over_a_jittery_path(
    algorithm: str, seed: int
) -> None:
    async def scenario(sim: Simulator) -> None:
        await three_clients(sim, 40)
        assert_schedule(sim.arrivals, latency=(LEG[1], LEG[1]))

    run_virtual(scenario, algorithm=algorithm, amounts=amount_of,  # type: ignore[arg-type]
                seed=seed, request_latency=LEG, response_latency=LEG)


@pytest.mark.okx_virtual(algorithm="sliding-window-counter", amounts=amount_of)
async def test_a_sliding_window_counter_costs_one_rejection_then_a_pause_and_even_pacing(
    okx_virtual_simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim = okx_virtual_simulator
    async with sim.client(user_id=DEMO_UID) as okx:
        result = await okx.max_collateral_redeem_amounts(ccys(30))
    assert {c: r and r.max_redeem_amt for c, r in result.items()} == {
        c: Decimal(amount_of(c) or "") for c in ccys(30)
    }
    # The first burst fills the counter's window; a window later it still weighs
    # that burst at 99 %, so of the requests that probe it one at a time the second
    # is refused. (tests/test_network.py checks every phase of the counter.)
    [rejection] = sim.rejections()
    assert [a.t for a in sim.arrivals[:7]] == [0.0] * 5 + [COOL] * 2
    assert rejection is sim.arrivals[6]
    warnings = [r for r in caplog.records if "even pacing" in r.getMessage()]
    assert len(warnings) == 1
    # Everyone paused for a whole window after the rejection, not only the one hit,
    # then every request went evenly paced, (window + margin) / requests apart.
    after = [a.t for a in sim.arrivals[7:]]
    assert after == pytest.approx([rejection.t + COOL + i * COOL / 5 for i in range(24)])
    assert not [a for a in sim.arrivals[7:] if a.code != "0"]


# The clock -------------------------------------------------------------------------


@pytest.mark.okx_virtual(clock_skew=120.0)
async def test_a_skewed_clock_is_measured_once_and_corrected(
    okx_virtual_simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim = okx_virtual_simulator
    async with sim.client(user_id=DEMO_UID) as okx:
        results = await okx.max_collateral_redeem_amounts(["BTC", "ETH", "SOL"])
        assert okx.clock_offset == pytest.approx(120.0, abs=1.0)
    assert list(results) == ["BTC", "ETH", "SOL"]
    measured = [r for r in caplog.records if "signing with OKX's clock" in r.getMessage()]
    assert len(measured) == 1  # three 50102s at once, one measurement
    # The simulator refuses a stale timestamp before counting; after the measurement
    # each currency went out once more, and only once.
    assert sorted((a.ccy, a.code) for a in sim.arrivals) == [
        ("BTC", "0"), ("ETH", "0"), ("SOL", "0")
    ]


# Timeouts, drops and faults ----------------------------------------------------------


async def test_a_hung_server_is_not_waited_on_forever(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    # aiohttp's own timeout, set from Timeouts: the answer would come, only too late.
    sim = await okx_simulator_factory(response_latency=(0.3, 0.3))
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         timeouts=Timeouts(connect=1.0, total=0.1),
                         retry=RetryPolicy.disabled()) as okx:
        with pytest.raises(OkxTimeoutError):
            await okx.max_collateral_redeem_amount("USDT")
    assert [a.code for a in sim.arrivals] == ["0"]  # it arrived, and its answer was late


@pytest.mark.okx_virtual(busy_rate=1.0)
async def test_a_call_deadline_bounds_all_its_attempts(okx_virtual_simulator: Simulator) -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=0.1, deadline=0.6)
    async with okx_virtual_simulator.client(user_id=DEMO_UID, retry=policy) as okx:
        with pytest.raises(OkxTimeoutError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
        assert now() == 0.6
    assert caught.value.attempts == len(okx_virtual_simulator.arrivals) >= 2
    assert isinstance(caught.value.__cause__, OkxServerBusyError)


async def test_a_dropped_connection_is_not_resent_behind_the_limiters_back(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(drop_rate=1.0)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         retry=RetryPolicy.disabled()) as okx:
        with pytest.raises(OkxTransportError):
            await okx.max_collateral_redeem_amount("USDT")
    assert len(sim.arrivals) == 1


@pytest.mark.real_time("a refused connection needs a real port that nothing listens on")
async def test_a_refused_connection_spends_no_slot_of_the_budget() -> None:
    """The server is not up yet: the first attempt is refused, nothing is sent, and the
    retry a second later takes the same slot instead of waiting out a window."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rule = RateLimit(1, 5.0)
    refused = asyncio.Event()
    retry = RetryPolicy(base_delay=1.0, jitter=0.0, on_retry=lambda _: refused.set())
    async with OkxClient(DEMO_CREDENTIALS, base_url=f"http://127.0.0.1:{port}",
                         user_id=DEMO_UID, rate_limits={ENDPOINT: rule}, retry=retry) as okx:
        started = time.monotonic()
        call = asyncio.create_task(okx.max_collateral_redeem_amount("USDT"))
        await refused.wait()
        async with Simulator(port=port) as sim:
            result = await call
        took = time.monotonic() - started
    assert result is not None
    assert len(sim.arrivals) == 1
    assert took < rule.window  # about the 1 s retry delay; a spent slot would cost 5 s


async def test_retries_exhausted_report_attempts_and_last_cause(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(server_error_rate=1.0, limit=5, window=WINDOW)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         rate_limits=RULES,
                         retry=RetryPolicy(max_attempts=4, base_delay=0.01)) as okx:
        with pytest.raises(OkxServerBusyError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert caught.value.code == "50001"
    assert caught.value.attempts == 4
    assert isinstance(caught.value.__cause__, OkxServerBusyError)
    assert len(sim.arrivals) == 4


# Cancellation and shutdown -------------------------------------------------------------


async def cancel_a_fan_out(okx: OkxClient, *, after: float) -> None:
    """Start a fan-out over 30 currencies and cancel it ``after`` seconds, with five in
    flight and the rest queued."""
    fan_out = asyncio.ensure_future(okx.max_collateral_redeem_amounts(ccys(30)))
    await asyncio.sleep(after)
    fan_out.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fan_out


@pytest.mark.okx_virtual(amounts=amount_of, response_latency=(0.05, 0.05))
async def test_cancelling_a_fan_out_leaks_no_task_or_slot(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    limiter = MemoryLimiter()
    before = client_tasks()
    async with sim.client(user_id=DEMO_UID, limiter=limiter, timeouts=Timeouts(total=0.3)) as okx:
        await cancel_a_fan_out(okx, after=0.02)
        assert client_tasks() == before
        budget = limiter.budget(LimitKey(DEMO_UID, ENDPOINT))
        assert budget is not None
        assert budget.in_flight == 0
        assert not limiter._buckets[LimitKey(DEMO_UID, ENDPOINT)]._waiters
        # The cancelled requests could still reach OKX until their timeout, 0.3 s after
        # their grant at 0, so they hold their slots until then plus the window.
        assert budget.ready_at(now()) == 0.3 + COOL
        await asyncio.sleep(0.3 + COOL - now())
        assert (await okx.max_collateral_redeem_amounts(ccys(5))).keys() == set(ccys(5))
    # The first of them goes the moment those slots come back.
    assert [a.t for a in sim.arrivals[:6]] == [0.0] * 5 + [0.3 + COOL]
    assert len(sim.arrivals) == 10


async def test_after_faults_and_a_cancelled_fan_out_no_task_or_socket_is_left(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    # Dropped connections and 502 pages on the way, then a fan-out cancelled in flight.
    faults: Mapping[str, list[str | None]] = {
        "max-collateral-redeem-amount": ["drop", None, "html", None, "drop"],
    }
    sim = await okx_simulator_factory(limit=5, window=WINDOW, amounts=amount_of, faults=faults,
                                      response_latency=(0.02, 0.02))
    port = int(sim.base_url.rsplit(":", 1)[1])
    before = client_tasks()
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         rate_limits=RULES, retry=QUICK_RETRY,
                         timeouts=Timeouts(total=0.3)) as okx:
        assert len(await okx.max_collateral_redeem_amounts(ccys(10))) == 10
        assert sim.pending_faults() == {}
        await cancel_a_fan_out(okx, after=0.01)
        assert client_tasks() == before
    await asyncio.sleep(0.05)  # the closed sockets' last callbacks
    assert client_sockets(port) == []


# Secrets ---------------------------------------------------------------------------


async def test_no_secret_in_any_log_record_or_error(
    okx_simulator_factory: SimulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    signatures: list[str] = []

    record = signature_recorder(signatures)

    errors: list[BaseException] = []
    sim = await okx_simulator_factory(
        clock_skew=60.0, html_error_rate=0.2, busy_rate=0.2, drop_rate=0.1, seed=7,
        limit=5, window=WINDOW, amounts=amount_of,
    )
    # With raise_for_status=True on the caller's session aiohttp raises errors whose repr
    # shows the request headers: none may be chained to what the client raises.
    session = aiohttp.ClientSession(raise_for_status=True, trace_configs=[record])
    retry = RetryPolicy(max_attempts=8, base_delay=0.005, max_delay=0.02)
    async with session, OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, rate_limits=RULES,
                                  retry=retry, session=session) as okx:
        try:
            await okx.max_collateral_redeem_amounts([*ccys(12), "NOPE"])
        except OkxBatchError as exc:
            errors += [exc, *exc.errors.values()]
        errors.append(OkxError(repr(okx)))
    wrong = Credentials(DEMO_CREDENTIALS.api_key, "wrong-secret", DEMO_CREDENTIALS.passphrase)
    async with OkxClient(wrong, base_url=sim.base_url, rate_limits=RULES) as bad:
        with pytest.raises(OkxAuthError) as caught:
            await bad.max_collateral_redeem_amount("USDT")
        errors.append(caught.value)
    assert errors
    assert len(caplog.records) > 5
    texts = [r.getMessage() for r in caplog.records]
    texts += [f"{r.args!r}" for r in caplog.records]
    secrets = [DEMO_CREDENTIALS.secret_key, DEMO_CREDENTIALS.passphrase, "wrong-secret"]
    assert len(signatures) > 10
    secrets += [s for s in signatures if s]
    for secret in secrets:
        assert not [t for t in texts if secret in t]
    # Every link of every chain: __cause__, __context__, batch members, repr and str.
    assert assert_no_secret(errors, secrets) > len(errors)


# The soak ------------------------------------------------------------------------------

#: About one counted request in ten meets a fault, before or after it executed.
FAULT_RATES = {"html_error_rate": 0.025, "server_error_rate": 0.025, "busy_rate": 0.025,
               "drop_rate": 0.025}


@pytest.mark.soak
@pytest.mark.real_time("a soak: a thousand queries over loopback HTTP at a scaled rule")
async def test_soak_a_thousand_queries_over_http_with_faults_lose_nothing(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    rule = RateLimit(5, 0.2)
    sim = await okx_simulator_factory(limit=rule.requests, window=rule.window,
                                      amounts=amount_of, seed=11, **FAULT_RATES)
    port = int(sim.base_url.rsplit(":", 1)[1])
    before = client_tasks()
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         limiter=MemoryLimiter(margin=0.005),
                         rate_limits={ENDPOINT: rule}, retry=QUICK_RETRY) as okx:
        await soak(okx, sim, 1000)
    assert client_tasks() == before
    await asyncio.sleep(0.05)  # the closed sockets' last callbacks
    assert client_sockets(port) == []


@pytest.mark.okx_virtual(amounts=amount_of, seed=11, **FAULT_RATES)
async def test_a_hundred_and_fifty_queries_with_faults_lose_nothing(
    okx_virtual_simulator: Simulator,
) -> None:
    """The soak in small, at the real rule on virtual time; ``pytest -m soak`` runs a
    thousand queries over loopback HTTP."""
    before = client_tasks()
    async with okx_virtual_simulator.client(user_id=DEMO_UID, retry=QUICK_RETRY) as okx:
        await soak(okx, okx_virtual_simulator, 150)
    assert client_tasks() == before


async def soak(okx: OkxClient, sim: Simulator, queries: int) -> None:
    """Twenty bots query ``queries`` currencies one at a time: none lost, none twice."""
    everything = ccys(queries)
    results: dict[str, Decimal] = {}
    duplicates: list[str] = []

    async def bot(mine: list[str]) -> None:
        for ccy in mine:
            result = await okx.max_collateral_redeem_amount(ccy)
            assert result is not None  # canned amounts: no account, no orders
            if ccy in results:
                duplicates.append(ccy)
            results[ccy] = result.max_redeem_amt

    await asyncio.gather(*(bot(everything[i::20]) for i in range(20)))
    assert not duplicates
    assert results == {ccy: Decimal(amount_of(ccy) or "") for ccy in everything}
    assert not sim.rejections()
    faults = [a for a in sim.arrivals if a.code != "0"]
    assert len(faults) > queries // 20  # the faults really were injected
