"""Fan-out at the real rule: N currencies, 5 requests per 2 s, for each client.

okx-async runs its batch method; ccxt's async okx runs ``asyncio.gather`` over its
implicit method with its own rate limiter on (as a user would); python-okx, which has
no limiter, runs sequentially and from a thread pool. The simulator counts every
request, so rejections are the server's count, not the client's claim.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import ccxt.async_support as ccxt_async
from okx.Finance.FlexibleLoan import FlexibleLoanAPI

from okx_async import MemoryLimiter, OkxBatchError, OkxClient
from okx_async.simulator import DEMO_UID
from okx_async.simulator._algorithms import max_in_any_window

from ._common import (
    CREDENTIALS,
    LIMIT,
    LINKS,
    LOOPBACK,
    REDEEM_PATH,
    WINDOW,
    Link,
    currencies,
    least_time,
    redeem_arrivals,
    rejections,
)
from ._probes import RecordingLimiter
from ._server import ArrivalRecord, SimServer

#: Threads for python-okx's pool: enough to send a whole window's budget at once.
PYTHON_OKX_THREADS = 8


@dataclass
class FanoutResult:
    """One client fetching ``n`` currencies once at the real 5-per-2-s rule."""

    client: str
    mode: str
    n: int
    wall_s: float
    least_s: float
    successes: int
    #: Requests the server answered with 50011 (retries included).
    rejections: int
    #: Currencies the caller did not get a result for.
    failures: int
    #: The most requests that reached the server inside any 2 s window.
    max_per_window: int
    #: Sequential round trips, for N <= 5 (okx-async only: read from its limiter).
    round_trips: int | None = None
    #: The longest any request waited for a limiter slot (okx-async only).
    max_wait_ms: float | None = None
    #: Arrival times relative to the start of the call, for the plot.
    arrivals: list[float] = field(default_factory=list, repr=False)
    #: The link profile (:data:`LINKS`); ``least_s`` includes its least round trip.
    link: str = LOOPBACK.key

    @property
    def efficiency(self) -> float | None:
        """least/actual wall time; only meaningful when every currency came back and
        the rule forces waiting (N > 5)."""
        if self.n <= LIMIT or self.successes < self.n or self.wall_s <= 0:
            return None
        return self.least_s / self.wall_s


def _result(
    client: str,
    mode: str,
    n: int,
    *,
    wall: float,
    start: float,
    successes: int,
    arrivals: list[ArrivalRecord],
    link: Link = LOOPBACK,
    **extra: Any,
) -> FanoutResult:
    redeem = redeem_arrivals(arrivals)
    result = FanoutResult(
        client=client,
        mode=mode,
        n=n,
        wall_s=wall,
        # The last answer has to come back too: on a slow link it weighs as much as a window.
        least_s=least_time(n) + link.min_rtt,
        link=link.key,
        successes=successes,
        rejections=rejections(arrivals),
        failures=n - successes,
        max_per_window=max_in_any_window([a.t for a in redeem], WINDOW) if redeem else 0,
        arrivals=[a.t - start for a in redeem],
        **extra,
    )
    _progress(result)
    return result


def _progress(r: FanoutResult) -> None:
    eff = f"{r.efficiency:.3f}" if r.efficiency is not None else "-"
    print(
        f"  fan-out {r.link:<9} {r.client:<10} {r.mode:<22} N={r.n:<4} {r.wall_s:7.2f} s  "
        f"efficiency {eff:>5}  50011: {r.rejections}",
        file=sys.stderr,
        flush=True,
    )


async def okx_async_fanout(
    n: int,
    *,
    latency: tuple[float, float] = (0.0, 0.0),
    user_id: str | None = DEMO_UID,
    link: Link = LOOPBACK,
) -> FanoutResult:
    """okx-async's ``max_collateral_redeem_amounts`` over ``n`` currencies.

    A fresh limiter per run: the process-wide default would carry budgets over from
    the previous case. ``user_id=None`` adds the one ``account/config`` lookup a
    client without a configured user id makes.
    """
    ccys = currencies(n)
    up = latency if latency != (0.0, 0.0) else link.request
    with SimServer(
        limit=LIMIT, window=WINDOW, request_latency=up, response_latency=link.response
    ) as server:
        limiter = RecordingLimiter(MemoryLimiter())
        async with OkxClient(
            CREDENTIALS, base_url=server.base_url, user_id=user_id, limiter=limiter
        ) as okx:
            start = time.monotonic()
            try:
                results = await okx.max_collateral_redeem_amounts(ccys)
            except OkxBatchError as exc:
                results = exc.results
            wall = time.monotonic() - start
        arrivals = server.finish()
    mode = "batch method"
    if latency != (0.0, 0.0):
        mode += f", +{latency[0] * 1000:g}-{latency[1] * 1000:g} ms latency"
    if user_id is None:
        mode += ", uid lookup"
    return _result(
        "okx-async", mode, n, wall=wall, start=start, successes=len(results), arrivals=arrivals,
        link=link, round_trips=limiter.round_trips(REDEEM_PATH) if n <= LIMIT else None,
        max_wait_ms=max(limiter.waits, default=0.0) * 1000,
    )


def ccxt_exchange(base_url: str, *, rate_limit: bool) -> Any:
    """ccxt's async okx pointed at the simulator; ``rate_limit`` is ``enableRateLimit``."""
    exchange = ccxt_async.okx({
        "apiKey": CREDENTIALS.api_key,
        "secret": CREDENTIALS.secret_key,
        "password": CREDENTIALS.passphrase,
        "enableRateLimit": rate_limit,
    })
    exchange.urls["api"] = {"rest": base_url}
    return exchange


def ccxt_call(exchange: Any, ccy: str) -> Any:
    """The implicit-API call for one currency (a coroutine)."""
    return exchange.private_get_finance_flexible_loan_max_collateral_redeem_amount({"ccy": ccy})


async def ccxt_fanout(n: int, link: Link = LOOPBACK) -> FanoutResult:
    """ccxt's async okx, every currency gathered at once, its limiter on (the default)."""
    ccys = currencies(n)
    with SimServer(
        limit=LIMIT, window=WINDOW, request_latency=link.request, response_latency=link.response
    ) as server:
        exchange = ccxt_exchange(server.base_url, rate_limit=True)
        try:
            start = time.monotonic()
            outcomes = await asyncio.gather(
                *(ccxt_call(exchange, ccy) for ccy in ccys), return_exceptions=True
            )
            wall = time.monotonic() - start
        finally:
            await exchange.close()
        arrivals = server.finish()
    successes = sum(1 for o in outcomes if not isinstance(o, BaseException))
    return _result(
        "ccxt", "gather, enableRateLimit", n,
        wall=wall, start=start, successes=successes, arrivals=arrivals, link=link,
    )


def python_okx_api(base_url: str) -> Any:
    """python-okx's Flexible Loan client pointed at the simulator (flag "0": live keys)."""
    return FlexibleLoanAPI(
        CREDENTIALS.api_key,
        CREDENTIALS.secret_key,
        CREDENTIALS.passphrase,
        flag="0",
        domain=base_url,
        debug=False,
    )


def python_okx_fanout(n: int, threads: int | None) -> FanoutResult:
    """python-okx over ``n`` currencies, in a loop or from a pool of ``threads``."""
    ccys = currencies(n)
    with SimServer(limit=LIMIT, window=WINDOW) as server:
        api = python_okx_api(server.base_url)
        call: Callable[[str], dict[str, Any]] = api.max_collateral_redeem_amount
        try:
            start = time.monotonic()
            if threads is None:
                answers = [call(ccy) for ccy in ccys]
            else:
                with ThreadPoolExecutor(threads) as pool:
                    answers = list(pool.map(call, ccys))
            wall = time.monotonic() - start
        finally:
            api.close()
        arrivals = server.finish()
    # python-okx returns the error envelope rather than raising: code "0" is success.
    successes = sum(1 for a in answers if str(a.get("code")) == "0")
    mode = "sequential" if threads is None else f"{threads} threads"
    return _result(
        "python-okx", mode, n, wall=wall, start=start, successes=successes, arrivals=arrivals
    )


async def run_fanout(ns: list[int], *, latency_n: int | None) -> list[FanoutResult]:
    """Every client at every N, one fresh simulator per case; about 2x the sum of least times.

    ``latency_n``: also run okx-async at that N with 0-20 ms of random request latency.
    """
    results = [await okx_async_fanout(n) for n in ns]
    # A client without a configured user id first asks account/config: one extra trip.
    results.append(await okx_async_fanout(min(ns), user_id=None))
    if latency_n is not None:
        results.append(await okx_async_fanout(latency_n, latency=(0.0, 0.02)))
    results += [await ccxt_fanout(n) for n in ns]
    for n in ns:
        for threads in (None, PYTHON_OKX_THREADS):
            # A blocking client: keep it off the event loop's thread.
            results.append(await asyncio.to_thread(python_okx_fanout, n, threads))
    return results


async def run_links(ns: dict[str, list[int]]) -> list[FanoutResult]:
    """okx-async and ccxt side by side on each link profile, at that profile's sizes."""
    results: list[FanoutResult] = []
    for key, sizes in ns.items():
        link = LINKS[key]
        for n in sizes:
            results.append(await okx_async_fanout(n, link=link))
            results.append(await ccxt_fanout(n, link))
    return results
