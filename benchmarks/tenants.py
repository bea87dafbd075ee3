"""Many tenants in one process: 1,000 user IDs, 10 queries each, all at once.

Sub-accounts and managed accounts: one process, one ``aiohttp`` session, one
``MemoryLimiter`` with a budget per user ID at the real rule (5 per 2 s), so half of
each user's queries wait in the limiter's queue for a window. The simulator runs
unlimited in another process, so it is never the bottleneck and its CPU is not
counted. The baseline is the bare signed aiohttp GET at the same concurrency: every
request gathered at once on one session. Rounds alternate between the two and the
median is reported.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from dataclasses import dataclass

import aiohttp

from okx_async import MemoryLimiter, OkxClient
from okx_async._signing import Signer

from ._common import CREDENTIALS, REDEEM_PATH, currencies, signed_get_headers
from ._probes import Sampler
from ._server import SimServer


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


async def _okx_async_round(
    session: aiohttp.ClientSession, base_url: str, users: int, per_user: int, tag: str
) -> int:
    limiter = MemoryLimiter()
    clients = [
        OkxClient(CREDENTIALS, base_url=base_url, user_id=f"{tag}{i:05d}", limiter=limiter,
                  session=session)
        for i in range(users)
    ]
    ccys = currencies(per_user)
    outcomes = await asyncio.gather(
        *(c.max_collateral_redeem_amounts(ccys) for c in clients), return_exceptions=True
    )
    return sum(1 for o in outcomes if isinstance(o, BaseException))


async def _bare_round(
    session: aiohttp.ClientSession, base_url: str, users: int, per_user: int, tag: str
) -> int:
    signer = Signer(CREDENTIALS.secret_key)

    async def call(ccy: str) -> bytes:
        path = f"{REDEEM_PATH}?ccy={ccy}"
        headers = signed_get_headers(signer, path)
        async with session.get(base_url + path, headers=headers) as response:
            return await response.read()

    ccys = currencies(per_user)
    outcomes = await asyncio.gather(
        *(call(ccy) for _ in range(users) for ccy in ccys), return_exceptions=True
    )
    return sum(1 for o in outcomes if isinstance(o, BaseException))


async def run_tenants(users: int, per_user: int, rounds: int) -> list[TenantsResult]:
    samples: dict[str, list[tuple[float, float, int, int, float]]] = {"okx-async": [],
                                                                     "aiohttp floor": []}
    kinds = {"okx-async": _okx_async_round, "aiohttp floor": _bare_round}
    with SimServer(rate_limit=False) as server:
        async with aiohttp.ClientSession() as session:
            # Opens the connections and warms caches for both.
            for kind in kinds.values():
                await kind(session, server.base_url, 20, per_user, "W")
            for r in range(rounds):
                for name, kind in kinds.items():
                    gc.collect()
                    async with Sampler(interval=0.25, socket_interval=3600) as sampler:
                        base_rss = sampler.peak_rss
                        cpu, wall = time.process_time(), time.perf_counter()
                        failures = await kind(session, server.base_url, users, per_user, f"R{r}")
                        wall = time.perf_counter() - wall
                        cpu = time.process_time() - cpu
                    samples[name].append((wall, cpu, sampler.peak_tasks,
                                          failures, (sampler.peak_rss - base_rss) / 2**20))
        server.finish()
    results = []
    total = users * per_user
    for name, rows in samples.items():
        result = TenantsResult(
            client=name, users=users, per_user=per_user, rounds=len(rows),
            wall_s=statistics.median(r[0] for r in rows),
            cpu_us=statistics.median(r[1] for r in rows) / total * 1e6,
            cpu_us_rounds=[round(r[1] / total * 1e6, 1) for r in rows],
            peak_tasks=max(r[2] for r in rows),
            peak_rss_growth_mb=max(r[4] for r in rows),
            failures=sum(r[3] for r in rows),
        )
        results.append(result)
        print(
            f"  tenants  {name:<13} {users} users x {per_user}: {result.wall_s:5.2f} s  "
            f"{result.cpu_us:5.0f} us CPU/request (rounds {result.cpu_us_rounds})  "
            f"tasks {result.peak_tasks}  +{result.peak_rss_growth_mb:.1f} MB",
            file=sys.stderr, flush=True,
        )
    return results
