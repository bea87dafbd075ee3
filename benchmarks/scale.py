"""Scale: one fan-out over 1,000 or 10,000 currencies at a scaled rule (5 per 10 ms).

Each size runs in a fresh child process (``python -m benchmarks.scale N BASE_URL``)
so its peak RSS is its own, measured from a baseline taken after imports and client
set-up; the simulator runs in another child. The client uses the scaled rule and a
1 ms margin, so 10,000 requests need about 20 s instead of the real rule's 67 minutes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from okx_async import MaxCollateralRedeemAmount, MemoryLimiter, OkxClient, RateLimit
from okx_async.simulator import DEMO_UID
from okx_async.simulator._algorithms import max_in_any_window

from ._common import CREDENTIALS, REDEEM_PATH, currencies, least_time, redeem_arrivals, rejections
from ._probes import Sampler, peak_rss_bytes, reset_peak_rss, rss_bytes
from ._server import ROOT, SimServer

SCALED_LIMIT = 5
SCALED_WINDOW = 0.01
SCALED_MARGIN = 0.001


@dataclass
class ScaleResult:
    """One big fan-out: time, memory, tasks and sockets at their peak."""

    n: int
    wall_s: float
    least_s: float
    successes: int
    rejections: int
    max_per_window: int
    #: Peak RSS above the baseline, from the kernel's high-water mark (never misses a peak).
    peak_rss_mb: float
    #: The same from 5 ms samples (can miss a short peak; a cross-check).
    sampled_peak_rss_mb: float
    baseline_rss_mb: float
    #: Tasks alive at once, including the benchmark's own main task.
    peak_tasks: int
    peak_connections: int
    #: ``sys.getsizeof`` of the returned dict and everything in it, per currency.
    result_bytes_per_ccy: float

    @property
    def efficiency(self) -> float:
        return self.least_s / self.wall_s if self.wall_s > 0 else 0.0


def _results_size(results: dict[str, MaxCollateralRedeemAmount | None]) -> int:
    """Bytes held by the result dict: the dict, keys, models and their fields."""
    size = sys.getsizeof(results)
    for ccy, item in results.items():
        size += sys.getsizeof(ccy) + sys.getsizeof(item)
        if item is not None:
            size += sys.getsizeof(item.ccy) + sys.getsizeof(item.max_redeem_amt)
    return size


async def _child(n: int, base_url: str) -> dict[str, Any]:
    """The measured run, inside the child process; returns a JSON-ready summary."""
    ccys = currencies(n)
    async with OkxClient(
        CREDENTIALS,
        base_url=base_url,
        user_id=DEMO_UID,
        limiter=MemoryLimiter(margin=SCALED_MARGIN),
        rate_limits={REDEEM_PATH: RateLimit(SCALED_LIMIT, SCALED_WINDOW)},
    ) as okx:
        reset_peak_rss()
        baseline = rss_bytes()
        async with Sampler() as sampler:
            start = time.monotonic()
            results = await okx.max_collateral_redeem_amounts(ccys)
            wall = time.monotonic() - start
        peak = peak_rss_bytes()
    return {
        "n": n,
        "start": start,
        "wall_s": wall,
        "successes": len(results),
        "baseline_rss": baseline,
        "peak_rss": peak,
        "sampled_peak_rss": sampler.peak_rss,
        "peak_tasks": sampler.peak_tasks,
        "peak_connections": sampler.peak_connections,
        "result_bytes": _results_size(results),
    }


def run_scale_one(n: int) -> ScaleResult:
    """One size: a simulator child, a client child, and the server's count of rejections."""
    with SimServer(limit=SCALED_LIMIT, window=SCALED_WINDOW) as server:
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.scale", str(n), server.base_url],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
        arrivals = server.finish()
    summary = json.loads(child.stdout)
    redeem = redeem_arrivals(arrivals)
    mb = 1024 * 1024
    result = ScaleResult(
        n=n,
        wall_s=summary["wall_s"],
        least_s=least_time(n, SCALED_LIMIT, SCALED_WINDOW),
        successes=summary["successes"],
        rejections=rejections(arrivals),
        max_per_window=max_in_any_window([a.t for a in redeem], SCALED_WINDOW),
        peak_rss_mb=(summary["peak_rss"] - summary["baseline_rss"]) / mb,
        sampled_peak_rss_mb=(summary["sampled_peak_rss"] - summary["baseline_rss"]) / mb,
        baseline_rss_mb=summary["baseline_rss"] / mb,
        peak_tasks=summary["peak_tasks"],
        peak_connections=summary["peak_connections"],
        result_bytes_per_ccy=summary["result_bytes"] / n,
    )
    print(
        f"  scale    N={n:<6} {result.wall_s:6.1f} s  efficiency {result.efficiency:.3f}  "
        f"peak +{result.peak_rss_mb:.1f} MB  tasks {result.peak_tasks}  "
        f"connections {result.peak_connections}  50011: {result.rejections}",
        file=sys.stderr,
        flush=True,
    )
    return result


def run_scale(ns: list[int]) -> list[ScaleResult]:
    """Every size, smallest first."""
    return [run_scale_one(n) for n in sorted(ns)]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_child(int(sys.argv[1]), sys.argv[2]))))
