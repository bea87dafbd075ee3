"""Many tenants in one process: hundreds of user IDs, 10 queries each, all at once.

Sub-accounts and managed accounts: one process, one ``aiohttp`` session, one
``MemoryLimiter`` with a budget per user ID at the real rule (5 per 2 s), so half of
each user's queries wait in the limiter's queue for a window. The simulator runs
unlimited in another process, so it is never the bottleneck and its CPU is not
counted. Each round runs in a fresh process of its own (``_isolated``).

The floor is the cheapest way found to send the same signed requests: the bare
aiohttp GET of :mod:`benchmarks._cpu` from ``FLOOR_CONCURRENCY`` workers. The same
GETs all gathered at once are shown too: that is what okx-async's first window
looks like to aiohttp (half of every user's queries at once). Rounds alternate
between the three and the median is reported.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from typing import Any

from ._cpu import FLOOR_CONCURRENCY
from ._isolated import run_isolated
from ._server import SimServer

#: The client rows of the table: the function that measures each in its child, and
#: its arguments. The first floor is the goal's baseline.
FLOOR = f"aiohttp floor, {FLOOR_CONCURRENCY} at once"
KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "okx-async": ("tenants_okx_async", {}),
    FLOOR: ("tenants_bare", {"concurrency": FLOOR_CONCURRENCY}),
    "aiohttp, all at once": ("tenants_bare", {"concurrency": None}),
}


@dataclass
class TenantsResult:
    client: str
    users: int
    per_user: int
    rounds: int
    wall_s: float
    cpu_us: float
    cpu_us_rounds: list[float]
    peak_tasks: int
    peak_rss_growth_mb: float
    failures: int

    @property
    def requests(self) -> int:
        return self.users * self.per_user


def run_tenants(users: int, per_user: int, rounds: int) -> list[TenantsResult]:
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in KINDS}
    with SimServer(rate_limit=False) as server:
        for _ in range(rounds):
            for name, (function, options) in KINDS.items():
                samples[name].append(run_isolated(
                    f"benchmarks._cpu:{function}", base_url=server.base_url, users=users,
                    per_user=per_user, **options,
                ))
        server.finish()
    results = []
    total = users * per_user
    for name, rows in samples.items():
        result = TenantsResult(
            client=name, users=users, per_user=per_user, rounds=len(rows),
            wall_s=statistics.median(r["wall_s"] for r in rows),
            cpu_us=statistics.median(r["cpu_s"] for r in rows) / total * 1e6,
            cpu_us_rounds=[round(r["cpu_s"] / total * 1e6, 1) for r in rows],
            peak_tasks=max(r["peak_tasks"] for r in rows),
            peak_rss_growth_mb=max(r["rss_growth_mb"] for r in rows),
            failures=sum(r["failures"] for r in rows),
        )
        results.append(result)
        print(
            f"  tenants  {name:<24} {users} users x {per_user}: {result.wall_s:5.2f} s  "
            f"{result.cpu_us:5.0f} us CPU/request (rounds {result.cpu_us_rounds})  "
            f"tasks {result.peak_tasks}  +{result.peak_rss_growth_mb:.1f} MB",
            file=sys.stderr, flush=True,
        )
    return results
