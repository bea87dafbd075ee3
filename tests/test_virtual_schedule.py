"""The real rule on virtual time: exact schedules in no time, and the same run as over HTTP."""

from __future__ import annotations

import asyncio
import time

import attrs
import pytest
from schedule import RULE, least_time

from okx_async import LimitKey, MemoryLimiter, OkxClient, Outcome, RateLimit, Timeouts
from okx_async._window import DEFAULT_MARGIN
from okx_async.simulator import DEMO_CREDENTIALS, DEMO_UID, Arrival, Simulator, run_virtual
from okx_async.simulator._virtual import run

LOAN_INFO = "/api/v5/finance/flexible-loan/loan-info"
REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"


def predicted_grants(n: int, lifetime: float) -> list[float]:
    """When a bare limiter grants ``n`` concurrent zero-latency requests, on virtual time."""
    limiter = MemoryLimiter()
    key = LimitKey(DEMO_UID, LOAN_INFO)

    async def one(grants: list[float]) -> None:
        permit = limiter.slot(key, RULE, lifetime=lifetime)
        async with permit:
            grants.append(asyncio.get_running_loop().time())
            permit.finish(Outcome.ACCEPTED)

    async def all_of_them() -> list[float]:
        grants: list[float] = []
        await asyncio.gather(*(one(grants) for _ in range(n)))
        return grants

    return run(all_of_them())


def test_sixty_loan_infos_at_the_real_rule_take_22_virtual_seconds_and_no_real_time() -> None:
    async def scenario(sim: Simulator) -> tuple[float, float, Simulator]:
        loop = asyncio.get_running_loop()
        async with sim.client() as okx:  # looks its uid up first, as a bot would
            started = loop.time()
            # Counted by arrivals, whatever shape loan_info's result has.
            await asyncio.gather(*(okx.loan_info() for _ in range(60)))
            return started, loop.time(), sim

    wall = time.perf_counter()
    started, ended, sim = run_virtual(scenario)
    wall = time.perf_counter() - wall
    assert ended - started >= least_time(60) == 22.0
    assert wall < 1.0
    assert sim.rejections() == []
    loan_info = [a for a in sim.arrivals if a.endpoint == LOAN_INFO]
    assert [a.code for a in loan_info] == ["0"] * 60
    assert [a.t for a in loan_info] == predicted_grants(60, lifetime=Timeouts().total)


# -- the same scenario over loopback HTTP and in-process --------------------------------

CCYS = ["USDT", "USDC", "BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "TRX", "TON", "DOT", "LTC",
        "BCH", "LINK", "AVAX", "MATIC", "POL", "ATOM", "UNI", "LUNC"]
SCALE = 0.1  # the HTTP run's rule and the limiter's margin, against the real ones


async def workload(okx: OkxClient) -> list[object]:
    """A fan-out over 20 currencies, then seven loan-info calls at once.

    The client knows its user ID: a lookup would queue the fan-out's workers behind
    one lock, and how they come out of it depends on the round trip, here 0 and
    there about a millisecond.
    """
    amounts = await okx.max_collateral_redeem_amounts(CCYS)
    infos = await asyncio.gather(*(okx.loan_info() for _ in range(7)))
    return [amounts, infos]


@attrs.frozen
class Run:
    """What one run of the workload gave, its arrival times in windows of its rule."""

    results: list[object]
    rejections: list[Arrival]
    bursts: list[list[tuple[str, str | None, str]]]
    starts: list[float]


def summary(results: list[object], sim: Simulator, window: float) -> Run:
    """Arrivals grouped into bursts (a gap over half a window starts a new one)."""
    arrivals = sorted(sim.arrivals, key=lambda a: a.t)
    first = arrivals[0].t
    bursts: list[list[Arrival]] = []
    for arrival in arrivals:
        if not bursts or arrival.t - bursts[-1][-1].t > window / 2:
            bursts.append([])
        bursts[-1].append(arrival)
    return Run(
        results, sim.rejections(),
        # Requests of one burst race each other on the wire: their order is free.
        [sorted((a.endpoint, a.ccy, a.code) for a in burst) for burst in bursts],
        [(burst[0].t - first) / window for burst in bursts],
    )


def over_http() -> Run:
    window = RULE.window * SCALE
    scaled = RateLimit(RULE.requests, window)

    async def main() -> Run:
        async with Simulator(limit=RULE.requests, window=window) as sim:
            client = OkxClient(
                DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                limiter=MemoryLimiter(margin=DEFAULT_MARGIN * SCALE),
                rate_limits={path: scaled for path in (REDEEM, LOAN_INFO)},
            )
            async with client as okx:
                return summary(await workload(okx), sim, window)

    return asyncio.run(main())


def in_process() -> Run:
    async def scenario(sim: Simulator) -> Run:
        async with sim.client(user_id=DEMO_UID) as okx:
            return summary(await workload(okx), sim, RULE.window)

    return run_virtual(scenario)


@pytest.mark.real_time("loopback HTTP at a scaled rule is one side of the comparison")
def test_the_same_scenario_gives_the_same_run_over_http_and_in_process() -> None:
    http, virtual = over_http(), in_process()
    assert virtual.results == http.results
    assert virtual.rejections == http.rejections == []
    assert virtual.bursts == http.bursts
    assert len(virtual.bursts) == 5  # 20 currencies in four windows, loan-info in a fifth
    # Each burst starts at the same point of the rule's schedule, in windows.
    assert virtual.starts == pytest.approx(http.starts, abs=0.25)
