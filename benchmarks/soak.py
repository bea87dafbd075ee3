"""Soak (opt-in, ``--soak``): 1,000 queries from 20 tasks at the real 5-per-2-s rule.

About 400 s. Twenty independent tasks share one client, as an application's request
handlers would, rather than one batch call; the question is whether the limiter
stays within the rule and keeps its pace over minutes, and whether memory stays flat.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass

from okx_async import MemoryLimiter, OkxClient
from okx_async.simulator import DEMO_UID
from okx_async.simulator._algorithms import max_in_any_window

from ._common import CREDENTIALS, LIMIT, WINDOW, currencies, least_time, redeem_arrivals, rejections
from ._probes import RecordingLimiter, Sampler, rss_bytes
from ._server import SimServer


@dataclass
class SoakResult:
    """``n`` single calls spread over ``tasks`` concurrent tasks on one client."""

    n: int
    tasks: int
    wall_s: float
    least_s: float
    successes: int
    rejections: int
    max_per_window: int
    peak_rss_growth_mb: float

    @property
    def efficiency(self) -> float:
        return self.least_s / self.wall_s if self.wall_s > 0 else 0.0


async def run_soak(n: int = 1000, tasks: int = 20) -> SoakResult:
    """Run the soak against a fresh simulator child at the real rule."""
    ccys = iter(currencies(n))
    successes = 0
    with SimServer(limit=LIMIT, window=WINDOW) as server:
        limiter = RecordingLimiter(MemoryLimiter())
        async with OkxClient(
            CREDENTIALS, base_url=server.base_url, user_id=DEMO_UID, limiter=limiter
        ) as okx:

            async def worker() -> None:
                nonlocal successes
                for ccy in ccys:  # shared: the tasks take the next currency in turn
                    try:
                        await okx.max_collateral_redeem_amount(ccy)
                        successes += 1
                    except Exception as exc:  # counted, not fatal: a soak runs to the end
                        print(f"  soak: {ccy} failed: {exc!r}", file=sys.stderr)

            baseline = rss_bytes()
            async with Sampler(interval=0.1, socket_interval=1.0) as sampler:
                start = time.monotonic()
                await asyncio.gather(*(worker() for _ in range(tasks)))
                wall = time.monotonic() - start
        arrivals = server.finish()
    redeem = redeem_arrivals(arrivals)
    result = SoakResult(
        n=n,
        tasks=tasks,
        wall_s=wall,
        least_s=least_time(n),
        successes=successes,
        rejections=rejections(arrivals),
        max_per_window=max_in_any_window([a.t for a in redeem], WINDOW),
        peak_rss_growth_mb=(sampler.peak_rss - baseline) / (1024 * 1024),
    )
    print(
        f"  soak     N={n} tasks={tasks} {wall:.1f} s  efficiency {result.efficiency:.3f}  "
        f"50011: {result.rejections}",
        file=sys.stderr,
        flush=True,
    )
    return result
