"""RedisLimiter against a real redis-server: the Lua decisions, processes sharing one
budget, fairness between them, and Redis going away in the middle of a run.

Scaled rules (5 per 0.2 s) keep the file quick; the three-process test uses OKX's
real 5 per 2 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis_fixture import RedisServer, free_port

from okx_async import (
    Limiter,
    LimitKey,
    MaxCollateralRedeemAmount,
    OkxBatchError,
    OkxClient,
    OkxLimiterUnavailable,
    Outcome,
    RateLimit,
)
from okx_async._redis_limiter import (
    _ACQUIRE_LUA,
    RedisLimiter,
    budget_keys,
)
from okx_async._window import DEFAULT_MARGIN
from okx_async.simulator import DEMO_CREDENTIALS, DEMO_UID, max_in_any_window
from okx_async.simulator.pytest_plugin import SimulatorFactory

REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"
KEY = LimitKey("42", "/api/v5/test")
FAST = RateLimit(5, 0.2)
#: Window plus margin of FAST, in ms: how long a finished slot stays taken.
COOL_MS = (FAST.window + DEFAULT_MARGIN) * 1000
WORKER = Path(__file__).with_name("_redis_worker.py")
LOG = "okx_async._redis_limiter"

#: 30 currencies the simulator knows, each with an amount of its own.
CCYS = [
    "USDT", "USDC", "BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "TRX", "TON",
    "DOT", "LTC", "BCH", "LINK", "AVAX", "MATIC", "POL", "ATOM", "UNI", "XLM",
    "ETC", "FIL", "APT", "ARB", "OP", "NEAR", "SUI", "PEPE", "OKB", "DAI",
]
AMOUNTS = {ccy: f"{i + 1}.{(i * 37) % 1000:03d}" for i, ccy in enumerate(CCYS)}

Make = Callable[..., RedisLimiter]


@pytest_asyncio.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client for looking at what the limiter wrote."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def limiters() -> AsyncIterator[Make]:
    """``make(url, **options)``: RedisLimiters, each on its own connections, all closed after."""
    made: list[RedisLimiter] = []

    def make(url: str, **options: Any) -> RedisLimiter:
        limiter = RedisLimiter.from_url(url, **options)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


async def redis_ms(client: aioredis.Redis) -> float:
    seconds, micros = await client.time()
    return seconds * 1000 + micros / 1000


def expected(ccy: str) -> MaxCollateralRedeemAmount:
    return MaxCollateralRedeemAmount(ccy, Decimal(AMOUNTS[ccy]))


# The interface and the names -------------------------------------------------------------


async def test_implements_the_limiter_protocol_and_repr_hides_the_password(
    redis_server: RedisServer,
) -> None:
    url = f"redis://bot:s3cret-pw@127.0.0.1:{redis_server.port}/0"
    async with RedisLimiter.from_url(url, prefix="bots") as limiter:
        assert isinstance(limiter, Limiter)
        assert "s3cret-pw" not in repr(limiter)
        assert f"127.0.0.1:{redis_server.port}" in repr(limiter)


def test_key_names_are_namespaced_and_share_one_cluster_slot() -> None:
    names = budget_keys(LimitKey("1000001", REDEEM))
    base = "okx-async:{1000001:" + REDEEM + "}"
    assert names == {
        "slots": f"{base}:slots",
        "queue": f"{base}:queue",
        "alive": f"{base}:alive",
        "pause": f"{base}:pause",
        "pace": f"{base}:pace",
        "burst": f"{base}:burst",
        "released": f"{base}:released",
    }
    assert budget_keys(KEY, prefix="bots")["slots"] == "bots:{42:/api/v5/test}:slots"
    with pytest.raises(ValueError, match="braces"):
        RedisLimiter(aioredis.Redis(), prefix="a{b}")


async def test_keys_carry_expiries_and_vanish_when_idle(
    redis_url: str, raw: aioredis.Redis, limiters: Make
) -> None:
    limiter = limiters(redis_url, state_ttl=0.3)
    waiting = [asyncio.create_task(_hold(limiter, KEY, FAST, 0.05)) for _ in range(7)]
    await asyncio.sleep(0.02)
    await limiter.throttled(KEY, FAST)
    names = set(budget_keys(KEY).values()) - {budget_keys(KEY)["released"]}
    live = set(await raw.keys("okx-async:*"))
    expected_keys = ("slots", "queue", "alive", "pause", "pace", "burst")
    assert {budget_keys(KEY)[k] for k in expected_keys} <= live
    assert live <= names
    for name in live:
        assert await raw.pttl(name) > 0, name  # nothing without an expiry, ever
    await asyncio.gather(*waiting)
    deadline = time.monotonic() + 2.0
    while await raw.keys("okx-async:*"):
        assert time.monotonic() < deadline, await raw.keys("okx-async:*")
        await asyncio.sleep(0.05)


# The script's decisions ----------------------------------------------------------------


async def _acquire_call(
    client: aioredis.Redis, tickets: list[tuple[str, float]], *, requests: int = 5,
    key: LimitKey = KEY, drops: list[str] | None = None,
) -> tuple[float, float, list[str]]:
    """Run the acquire script as a driver would; returns (redis_now, wait, granted)."""
    names = budget_keys(key)
    drops = drops or []
    args: list[Any] = [
        requests, f"{COOL_MS:.3f}", 30_000, 10_000, names["released"], 60_000,
        len(drops), *drops, len(tickets),
    ]
    for ticket, age in tickets:
        args += [ticket, age]
    script = client.register_script(_ACQUIRE_LUA)
    parts = ("slots", "queue", "alive", "pause", "pace", "burst")
    reply = await script(keys=[names[k] for k in parts], args=args)
    return float(reply[0]), float(reply[1]), [str(r) for r in reply[3:]]


async def test_script_waits_exactly_until_the_earliest_slot_frees(raw: aioredis.Redis) -> None:
    slots = budget_keys(KEY)["slots"]
    now = await redis_ms(raw)
    await raw.zadd(slots, {"a.1": now + 5000, "a.2": now + 700, "a.3": now + 900,
                           "a.4": now + 900, "a.5": now + 900})
    redis_now, wait, granted = await _acquire_call(raw, [("me.000000000001", 0.0)])
    assert granted == []
    assert wait == pytest.approx(now + 700 - redis_now, abs=0.002)
    # The ticket is queued at its first-wait time, in Redis's clock.
    queued = await raw.zscore(budget_keys(KEY)["queue"], "me.000000000001")
    assert queued == pytest.approx(redis_now, abs=0.002)


async def test_script_grants_free_slots_to_the_oldest_tickets_and_hands_over(
    raw: aioredis.Redis,
) -> None:
    names = budget_keys(KEY)
    pubsub = raw.pubsub()
    await pubsub.subscribe(names["released"])
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    # "other" started waiting 500 ms ago, and "me" 100 ms ago: other is first in line.
    await _acquire_call(raw, [("other.000000000001", 500.0)], requests=0)
    _now, wait, granted = await _acquire_call(
        raw, [("me.000000000001", 100.0), ("me.000000000002", 50.0)], requests=2
    )
    assert granted == ["me.000000000001"]
    # Both slots taken; the first to end is the one kept for "other" to claim.
    assert wait == pytest.approx(10_000, abs=5)
    handed = await raw.zscore(names["slots"], "other.000000000001")
    assert handed is not None  # kept for "other" to claim
    message = await pubsub.get_message(timeout=1.0)
    assert message is not None and message["data"] == "grant other"
    # "other" claims the handed-over slot on its next call.
    _now, _wait, granted = await _acquire_call(raw, [("other.000000000001", 600.0)], requests=2)
    assert granted == ["other.000000000001"]
    await pubsub.unsubscribe()


async def test_script_pause_and_pacing_gate_grants(raw: aioredis.Redis) -> None:
    names = budget_keys(KEY)
    now = await redis_ms(raw)
    await raw.set(names["pause"], f"{now + 300:.3f}", px=300)
    redis_now, wait, granted = await _acquire_call(raw, [("me.000000000001", 0.0)])
    assert granted == []
    assert wait == pytest.approx(now + 300 - redis_now, abs=0.002)
    await raw.delete(names["pause"])
    await raw.hset(names["pace"], mapping={"interval": 44, "last": redis_now, "ttl": 60_000})
    redis_now, wait, granted = await _acquire_call(raw, [("me.000000000001", 0.0)])
    assert granted == [] and wait > 0
    await asyncio.sleep(wait / 1000 + 0.002)
    _now, wait, granted = await _acquire_call(
        raw, [("me.000000000001", 0.0), ("me.000000000002", 0.0)]
    )
    assert granted == ["me.000000000001"]  # one per interval, even with free slots
    assert wait == pytest.approx(44, abs=0.01)


async def test_script_forgets_tickets_of_waiters_that_gave_up(raw: aioredis.Redis) -> None:
    names = budget_keys(KEY)
    await _acquire_call(raw, [("gone.000000000001", 0.0)], requests=0)
    assert await raw.zcard(names["queue"]) == 1
    await _acquire_call(raw, [], requests=0, drops=["gone.000000000001"])
    assert await raw.exists(names["queue"], names["alive"]) == 0


# Through the public interface ------------------------------------------------------------


async def _hold(limiter: RedisLimiter, key: LimitKey, rule: RateLimit, seconds: float) -> float:
    """Take a slot for ``seconds``; return when it was granted (monotonic)."""
    async with limiter.slot(key, rule):
        granted = time.monotonic()
        await asyncio.sleep(seconds)
    return granted


async def test_first_five_at_once_sixth_waits_for_first_finish_plus_window(
    redis_url: str, raw: aioredis.Redis, limiters: Make
) -> None:
    limiter = limiters(redis_url)
    slots = budget_keys(KEY)["slots"]
    permits = [limiter.slot(KEY, FAST) for _ in range(5)]
    started = time.monotonic()
    await asyncio.gather(*(p.__aenter__() for p in permits))
    assert time.monotonic() - started < 0.1
    assert await raw.zcard(slots) == 5
    sixth = limiter.slot(KEY, FAST)
    entering = asyncio.create_task(sixth.__aenter__())
    await asyncio.sleep(0.4)  # two windows: slots in flight never free by time alone
    assert not entering.done()
    members = {str(m) for m in await raw.zrange(slots, 0, -1)}
    before = await redis_ms(raw)
    await permits[0].__aexit__(None, None, None)
    after = await redis_ms(raw)
    # The finished slot now frees first, long before the leases of those in flight.
    first = await raw.zrange(slots, 0, 0, withscores=True)
    free_at = float(first[0][1])
    assert before + COOL_MS <= free_at <= after + COOL_MS
    await asyncio.wait_for(entering, 1.0)
    newcomer = next(str(m) for m in await raw.zrange(slots, 0, -1) if m not in members)
    lease_end = await raw.zscore(slots, newcomer)
    assert lease_end is not None
    granted_at = lease_end - limiter.lease * 1000
    assert free_at <= granted_at <= free_at + 15, granted_at - free_at
    await sixth.__aexit__(None, None, None)
    for permit in permits[1:]:
        await permit.__aexit__(None, None, None)


async def test_waiters_of_one_process_are_served_in_order(
    redis_url: str, limiters: Make
) -> None:
    limiter = limiters(redis_url)
    order: list[int] = []

    async def one(i: int) -> None:
        async with limiter.slot(KEY, FAST):
            order.append(i)

    await asyncio.gather(*(one(i) for i in range(17)))
    assert order == list(range(17))


async def test_lease_frees_the_slot_of_a_crashed_process(
    redis_url: str, limiters: Make
) -> None:
    one = RateLimit(1, 0.1)
    crashed = limiters(redis_url, lease=0.4)
    await crashed.slot(KEY, one).__aenter__()  # and never leaves: the process died
    started = time.monotonic()
    await _hold(limiters(redis_url), KEY, one, 0.0)
    assert 0.35 <= time.monotonic() - started <= 0.8


async def test_cancelled_waiter_leaves_no_ticket_behind(
    redis_url: str, raw: aioredis.Redis, limiters: Make
) -> None:
    one = RateLimit(1, 0.1)
    limiter = limiters(redis_url)
    holder = limiter.slot(KEY, one)
    await holder.__aenter__()
    waiter = asyncio.create_task(_hold(limiter, KEY, one, 0.0))
    await asyncio.sleep(0.05)
    assert await raw.zcard(budget_keys(KEY)["queue"]) == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(0.05)
    assert await raw.exists(budget_keys(KEY)["queue"]) == 0
    await holder.__aexit__(None, None, None)
    await asyncio.wait_for(_hold(limiter, KEY, one, 0.0), 1.0)


async def test_throttled_pauses_every_process_and_paces_evenly(
    redis_url: str, raw: aioredis.Redis, limiters: Make,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOG)
    hit, other = limiters(redis_url), limiters(redis_url)
    started = time.monotonic()
    await hit.throttled(KEY, FAST)
    await hit.throttled(KEY, FAST)  # a second 50011: paused again, but no second warning
    pause_ttl = await raw.pttl(budget_keys(KEY)["pause"])
    assert 0 < pause_ttl <= math.ceil(COOL_MS)
    assert await raw.pttl(budget_keys(KEY)["pace"]) > 0
    grants = sorted(await asyncio.gather(*(_hold(other, KEY, FAST, 0.0) for _ in range(6))))
    assert grants[0] - started >= COOL_MS / 1000 - 0.005
    interval = COOL_MS / 1000 / FAST.requests
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) >= interval - 0.004, gaps
    warnings = [r for r in caplog.records if "50011" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_50011_leaving_the_slot_pauses_every_process(
    redis_url: str, limiters: Make, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOG)
    hit, other = limiters(redis_url), limiters(redis_url)
    two = RateLimit(2, 0.1)
    permit = hit.slot(KEY, two)
    async with permit:
        permit.finish(Outcome.THROTTLED)
    released = time.monotonic()
    # A slot is free, but the budget is paused for window + margin in every process.
    granted = await asyncio.wait_for(_hold(other, KEY, two, 0.0), 2.0)
    assert granted - released >= two.window + DEFAULT_MARGIN - 0.005
    assert sum("50011" in r.getMessage() for r in caplog.records) == 1


async def test_refilled_slots_go_one_at_a_time_until_probes_pass(
    redis_url: str, raw: aioredis.Redis, limiters: Make
) -> None:
    """As in memory: 5 at once, then 5 probes each alone, then refilled bursts again."""
    limiter = limiters(redis_url)
    spans: list[tuple[float, float]] = []

    async def one() -> None:
        permit = limiter.slot(KEY, FAST)
        async with permit:
            start = time.monotonic()
            await asyncio.sleep(0.02)
            spans.append((start, time.monotonic()))
            permit.finish(Outcome.ACCEPTED)

    await asyncio.gather(*(one() for _ in range(10)))
    spans.sort()
    assert spans[4][0] - spans[0][0] < 0.01  # the first burst
    for before, probe in itertools.pairwise(spans[5:]):
        assert probe[0] >= before[1], "a probe went out before the previous one answered"
    assert await raw.hget(budget_keys(KEY)["burst"], "left") == "0"


async def test_many_processes_never_exceed_the_rule(
    redis_url: str, limiters: Make, okx_simulator_factory: SimulatorFactory,
) -> None:
    """Four limiters (as four processes would) and random latency: no window over 5."""
    sim = await okx_simulator_factory(
        limit=5, window=0.2, amounts=AMOUNTS, seed=3,
        request_latency=(0.0, 0.02), response_latency=(0.0, 0.02),
    )
    parts = [CCYS[i::4] for i in range(4)]

    async def bot(ccys: list[str]) -> dict[str, MaxCollateralRedeemAmount]:
        async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                             limiter=limiters(redis_url), rate_limits={REDEEM: FAST}) as okx:
            return await okx.max_collateral_redeem_amounts(ccys)

    async with asyncio.timeout(20):
        found = await asyncio.gather(*(bot(p) for p in parts))
    assert {k: v for part in found for k, v in part.items()} == {c: expected(c) for c in CCYS}
    assert not sim.rejections()
    assert max_in_any_window([a.t for a in sim.arrivals], FAST.window) <= 5


async def test_a_sliding_window_counter_costs_one_rejection_across_processes(
    redis_url: str, limiters: Make, okx_simulator_factory: SimulatorFactory,
) -> None:
    """Refilled slots go out as probes, so the server that punishes bursts rejects one;
    then every process paces evenly."""
    rule = RateLimit(5, 0.5)
    sim = await okx_simulator_factory(
        algorithm="sliding-window-counter", limit=5, window=rule.window, amounts=AMOUNTS
    )

    async def bot(ccys: list[str]) -> dict[str, MaxCollateralRedeemAmount]:
        async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                             limiter=limiters(redis_url), rate_limits={REDEEM: rule}) as okx:
            return await okx.max_collateral_redeem_amounts(ccys)

    async with asyncio.timeout(30):
        found = await asyncio.gather(bot(CCYS[::2]), bot(CCYS[1::2]))
    assert {k: v for part in found for k, v in part.items()} == {c: expected(c) for c in CCYS}
    rejections = sim.rejections()
    assert len(rejections) == 1
    after = [a.t for a in sim.arrivals if a.t > rejections[0].t]
    assert min(after) - rejections[0].t >= rule.window  # both processes paused


# Fairness ------------------------------------------------------------------------------


async def test_a_late_process_is_not_starved_by_a_busy_one(
    redis_url: str, limiters: Make
) -> None:
    """A keeps ten requests queued all the time; B asks once, later. B gets first-come,
    first-served: it overtakes nothing and is overtaken by nothing of A's that came later.

    B is a running process, connected already. (A cold one spends a millisecond or two
    connecting first, and the queue only knows a waiter once its ticket is in Redis.)
    """
    busy, late = limiters(redis_url), limiters(redis_url)
    await _hold(late, LimitKey("42", "/api/v5/other"), FAST, 0.0)
    log: list[tuple[float, float]] = []  # (started waiting, granted) of A's requests
    stop = time.monotonic() + 1.6

    async def worker() -> None:
        while time.monotonic() < stop:
            asked = time.monotonic()
            async with busy.slot(KEY, FAST):
                log.append((asked, time.monotonic()))
                await asyncio.sleep(0.005)

    workers = [asyncio.create_task(worker()) for _ in range(10)]
    await asyncio.sleep(0.5)
    asked = time.monotonic()
    granted = await _hold(late, KEY, FAST, 0.005)
    await asyncio.gather(*workers)
    # Strict first-come-first-served: B's turn comes right after every request that
    # asked before it, so B gets grant number n_older of the whole schedule.
    n_older = sum(1 for a, _g in log if a < asked)
    turn = sorted([g for _a, g in log] + [granted])[n_older]
    overtook_b = sum(1 for a, g in log if a > asked and g < granted)
    print(
        f"\nfairness: B waited {(granted - asked) * 1000:.0f} ms; first-come-first-served "
        f"gives {(turn - asked) * 1000:.0f} ms ({n_older} of A's requests were older); "
        f"{overtook_b} younger requests of A went first; A completed {len(log)}"
    )
    assert overtook_b <= 1  # one, at most, asked within the same millisecond
    assert granted - turn <= FAST.window + DEFAULT_MARGIN


# Several OS processes ------------------------------------------------------------------


async def _run_workers(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), json.dumps(spec),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for spec in specs
    ]
    try:
        outputs = await asyncio.gather(*(p.communicate() for p in procs))
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
    reports = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        reports.append(json.loads(out))
    return reports


async def test_three_processes_share_one_budget_at_full_speed(
    redis_url: str, okx_simulator_factory: SimulatorFactory
) -> None:
    sim = await okx_simulator_factory(
        limit=5, window=2.0, seed=1, request_latency=(0.0, 0.01), amounts=AMOUNTS
    )
    start_at = time.time() + 3.0
    specs = [
        {"redis_url": redis_url, "base_url": sim.base_url, "user_id": DEMO_UID,
         "start_at": start_at, "ccys": CCYS[i::3]}
        for i in range(3)
    ]
    async with asyncio.timeout(45):
        reports = await _run_workers(specs)
    results: dict[str, str] = {}
    for report in reports:
        assert report["errors"] == {}
        assert report["late"] < 0.5, "a worker started late: the timing means little"
        results.update(report["results"])
    assert {c: Decimal(a) for c, a in results.items()} == {c: Decimal(AMOUNTS[c]) for c in CCYS}
    times = sorted(a.t for a in sim.arrivals if a.endpoint == REDEEM)
    assert len(times) == 30
    assert not sim.rejections()
    assert max_in_any_window(times, 2.0) <= 5
    span = times[-1] - times[0]
    ideal = math.floor((len(times) - 1) / 5) * 2.0
    print(f"\nthree processes: 30 requests in {span:.3f} s (ideal {ideal:.0f} s)")
    assert span <= ideal * 1.15


# Redis going away ----------------------------------------------------------------------


async def _fan_out(
    sim_url: str, limiter: RedisLimiter
) -> tuple[dict[str, MaxCollateralRedeemAmount], dict[str, BaseException]]:
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim_url, user_id=DEMO_UID,
                         limiter=limiter, rate_limits={REDEEM: FAST}) as okx:
        try:
            return await okx.max_collateral_redeem_amounts(CCYS), {}
        except OkxBatchError as exc:
            results = {c: r for c, r in exc.results.items()
                       if isinstance(r, MaxCollateralRedeemAmount)}
            return results, exc.errors


async def test_redis_killed_mid_run_raises_limiter_unavailable(
    redis_server: RedisServer, limiters: Make,
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(limit=5, window=0.2, amounts=AMOUNTS)
    limiter = limiters(redis_server.url)
    run = asyncio.create_task(_fan_out(sim.base_url, limiter))
    await asyncio.sleep(0.3)
    await redis_server.astop(kill=True)
    async with asyncio.timeout(5):
        results, errors = await run
    assert errors, "the run should not have finished before Redis died"
    assert all(isinstance(e, OkxLimiterUnavailable) for e in errors.values()), errors
    message = str(next(iter(errors.values())))
    assert f"127.0.0.1:{redis_server.port}" in message and "unreachable" in message
    assert results == {c: expected(c) for c in results}
    assert len(results) + len(errors) == len(CCYS)
    assert len(sim.arrivals) == len(results)  # nothing went out unthrottled
    assert not sim.rejections()


async def test_unreachable_redis_raises_fast_without_leaking_the_password(
    limiters: Make,
) -> None:
    port = free_port()
    limiter = limiters(f"redis://bot:hunter2-pw@127.0.0.1:{port}/0")
    started = time.monotonic()
    with pytest.raises(OkxLimiterUnavailable) as caught:
        await _hold(limiter, KEY, FAST, 0.0)
    assert time.monotonic() - started < 1.5
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def test_a_hung_redis_raises_within_the_timeout_and_is_used_again_after(
    redis_server: RedisServer, limiters: Make
) -> None:
    limiter = limiters(redis_server.url, timeout=0.3)
    await _hold(limiter, KEY, FAST, 0.0)
    redis_server.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(OkxLimiterUnavailable, match="unreachable"):
            await asyncio.wait_for(_hold(limiter, KEY, FAST, 0.0), 3.0)
        assert time.monotonic() - started < 0.3 * 2 + 0.2  # a connection, then the call
    finally:
        redis_server.thaw()
    await asyncio.wait_for(_hold(limiter, KEY, FAST, 0.0), 3.0)


async def test_redis_killed_mid_run_falls_back_to_memory_and_warns_once(
    redis_server: RedisServer, limiters: Make,
    okx_simulator_factory: SimulatorFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOG)
    sim = await okx_simulator_factory(limit=5, window=0.2, amounts=AMOUNTS)
    limiter = limiters(redis_server.url, fallback="memory")
    run = asyncio.create_task(_fan_out(sim.base_url, limiter))
    await asyncio.sleep(0.3)
    await redis_server.astop(kill=True)
    async with asyncio.timeout(10):
        results, errors = await run
    assert errors == {}
    assert results == {c: expected(c) for c in CCYS}
    fallbacks = [r for r in caplog.records if "falling back" in r.getMessage()]
    assert len(fallbacks) == 1
    assert f"127.0.0.1:{redis_server.port}" in fallbacks[0].getMessage()
    # The memory limiter took over what this process had in flight and cooling.
    assert not sim.rejections()
    assert max_in_any_window([a.t for a in sim.arrivals], FAST.window) <= 5


async def test_waiter_wakes_when_redis_dies_under_it(
    redis_server: RedisServer, limiters: Make
) -> None:
    """A waiter for an in-flight slot sleeps on pub/sub; the broken connection wakes it."""
    one = RateLimit(1, 0.1)
    limiter = limiters(redis_server.url)
    await limiter.slot(KEY, one).__aenter__()
    waiter = asyncio.create_task(_hold(limiter, KEY, one, 0.0))
    await asyncio.sleep(0.1)
    killed = time.monotonic()
    await redis_server.astop(kill=True)
    with pytest.raises(OkxLimiterUnavailable):
        async with asyncio.timeout(3):
            await waiter
    assert time.monotonic() - killed < 1.0  # woken, not left to its 2 s refresh


async def test_redis_restart_mid_run_wedges_nothing(
    redis_server: RedisServer, limiters: Make,
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(limit=5, window=0.2, amounts=AMOUNTS)
    limiter = limiters(redis_server.url)
    run = asyncio.create_task(_fan_out(sim.base_url, limiter))
    await asyncio.sleep(0.3)
    await redis_server.astop(kill=True)
    await redis_server.astart()
    async with asyncio.timeout(10):
        results, errors = await run
    # Each currency either came back right or failed clearly; none hung.
    assert results == {c: expected(c) for c in results}
    assert all(isinstance(e, OkxLimiterUnavailable) for e in errors.values()), errors
    assert len(results) + len(errors) == len(CCYS)
    # The same limiter works again against the restarted, empty server (scripts reloaded).
    async with asyncio.timeout(10):
        results, errors = await _fan_out(sim.base_url, limiter)
    assert errors == {}
    assert results == {c: expected(c) for c in CCYS}
    assert not sim.rejections()


async def test_a_restarted_redis_learns_again_what_idle_processes_just_sent(
    redis_server: RedisServer, limiters: Make
) -> None:
    """Redis restarts empty; a process that sent a burst and went idle tells it again,
    so another process cannot burst on top of it."""
    rule = RateLimit(5, 1.0)
    idle, other = limiters(redis_server.url), limiters(redis_server.url)
    await asyncio.gather(*(_hold(idle, KEY, rule, 0.0) for _ in range(5)))
    finished = time.monotonic()
    await redis_server.astop(kill=True)
    await redis_server.astart()
    await asyncio.sleep(0.3)  # the idle process notices through its subscriber connection
    granted = await asyncio.wait_for(_hold(other, KEY, rule, 0.0), 3.0)
    assert granted - finished >= rule.window + DEFAULT_MARGIN - 0.05


async def test_fallback_returns_to_redis_when_it_answers_again(
    redis_server: RedisServer, raw: aioredis.Redis, limiters: Make,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOG)
    limiter = limiters(redis_server.url, fallback="memory")
    await _hold(limiter, KEY, FAST, 0.0)
    await redis_server.astop(kill=True)
    async with asyncio.timeout(5):
        await asyncio.gather(*(_hold(limiter, KEY, FAST, 0.0) for _ in range(8)))
    await redis_server.astart()
    await asyncio.sleep(1.1)  # the next probe is due
    await _hold(limiter, KEY, FAST, 0.0)  # still on memory; starts the probe
    await asyncio.sleep(0.1)
    async with asyncio.timeout(5):
        await _hold(limiter, KEY, FAST, 0.0)
    assert await raw.exists(budget_keys(KEY)["slots"]) == 1  # Redis sees requests again
    messages = [r.getMessage() for r in caplog.records]
    assert sum("falling back" in m for m in messages) == 1
    assert sum("answers again" in m for m in messages) == 1


def test_okx_async_imports_without_redis() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import okx_async\n"
        "try:\n"
        "    okx_async.RedisLimiter\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert "pip install 'okx-async[redis]'" in run.stdout
