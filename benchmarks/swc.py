"""A server that counts with a sliding-window counter, on a real loop, at random start phases.

The simulator counts "5 per 2 s" as the weighted two-bucket estimate many API
gateways use, its windows aligned to its own start; the client starts its fan-out
of 30 at a random phase of that window (seeded, so a run can be repeated). The
limiter cannot see the counter's windows: it probes until no counter fits the
answers, and switches to even pacing at the first 50011. Each run has a fresh
simulator child and a fresh limiter.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from dataclasses import dataclass

from okx_async import MemoryLimiter, OkxBatchError, OkxClient
from okx_async.simulator import DEMO_UID

from ._common import (
    CREDENTIALS,
    LIMIT,
    LINKS,
    LOOPBACK,
    WINDOW,
    Link,
    currencies,
    redeem_arrivals,
    rejections,
)
from ._server import SimServer


@dataclass
class SwcRun:
    """One fan-out against the counter, started ``phase`` of a window after its origin."""

    link: str
    phase: float
    n: int
    rejections: int
    successes: int
    wall_s: float


async def swc_run(n: int, phase: float, link: Link = LOOPBACK) -> SwcRun:
    with SimServer(limit=LIMIT, window=WINDOW, algorithm="sliding-window-counter",
                   request_latency=link.request, response_latency=link.response) as server:
        async with OkxClient(CREDENTIALS, base_url=server.base_url, user_id=DEMO_UID,
                             limiter=MemoryLimiter()) as okx:
            # The counter's windows start when the simulator did: wait into the phase.
            await asyncio.sleep(phase * WINDOW)
            start = time.monotonic()
            try:
                results = await okx.max_collateral_redeem_amounts(currencies(n))
            except OkxBatchError as exc:
                results = exc.results
            wall = time.monotonic() - start
        arrivals = redeem_arrivals(server.finish())
    run = SwcRun(link.key, phase, n, rejections(arrivals), len(results), wall)
    print(f"  swc      {link.key:<9} phase {phase:.3f}  {wall:6.2f} s  results {run.successes}"
          f"  50011: {run.rejections}", file=sys.stderr, flush=True)
    return run


async def run_swc(runs: int, n: int = 30, links: tuple[str, ...] = ("loopback",),
                  seed: int = 20) -> list[SwcRun]:
    """``runs`` fan-outs of ``n`` per link, each at a random start phase."""
    rng = random.Random(seed)
    phases = [rng.random() for _ in range(runs)]
    return [await swc_run(n, phase, LINKS[key]) for key in links for phase in phases]
