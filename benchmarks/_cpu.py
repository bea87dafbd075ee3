"""CPU per request of each client, one measurement per fresh process (``_isolated``).

Every function here runs inside its own child and returns a JSON-ready dict:
``wall_s``, ``cpu_s`` (``time.process_time()`` of the child: the client's CPU, since
the simulator runs in another process) and ``failures``; the many-tenants runs add
the peak number of tasks and the RSS growth. Imports of a client happen inside its
function, so no client pays for another's heap.

The floor is the cheapest way found to send the same signed requests: a bare
aiohttp GET of the URL as signed (``URL(..., encoded=True)``, so aiohttp does not
parse and requote it), with no timeout (no timer per request), driven by a fixed
number of workers (``FLOOR_CONCURRENCY``). ``python -m benchmarks --only floors``
shows how it compares with other forms and concurrencies on the machine at hand.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

from ._common import CREDENTIALS, REDEEM_PATH, currencies, signed_get_headers

#: The number of workers that sends a batch of requests the cheapest way on aiohttp.
FLOOR_CONCURRENCY = 50
#: Requests sent before the clock starts: they open the connections and warm caches.
WARMUP = 100

Call = Callable[[str], Awaitable[Any]]


async def drive(call: Call, items: list[str], concurrency: int | None) -> int:
    """Send one request per item from ``concurrency`` workers (all at once for None)."""
    failures = 0

    async def one(item: str) -> None:
        nonlocal failures
        try:
            await call(item)
        except Exception:
            failures += 1

    if concurrency is None:
        await asyncio.gather(*(one(item) for item in items))
        return failures
    pending = iter(items)

    async def worker() -> None:
        for item in pending:  # one shared iterator: the workers split the work
            await one(item)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


async def timed(run: Callable[[], Awaitable[int]]) -> dict[str, Any]:
    """CPU and wall time of ``run()``, after collecting the garbage of the set-up."""
    gc.collect()
    before = os.times()
    cpu, wall = time.process_time(), time.perf_counter()
    failures = await run()
    after = os.times()
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "user_s": after.user - before.user, "system_s": after.system - before.system,
            "failures": failures}


def bare_get(session: aiohttp.ClientSession, base_url: str, form: str = "floor") -> Call:
    """A bare signed GET of one currency, in one of the forms the tuning compares.

    ``floor``: the URL as signed and no timeout, the cheapest. ``plain``: aiohttp's
    defaults (it parses the URL, and the session's 5-minute timeout sets a timer).
    ``send-once``: what okx-async's transport adds for correctness: a total and a
    connect timeout, no redirects, and the middleware that refuses aiohttp's resend.
    """
    from okx_async._signing import Signer
    from okx_async._transport import _SendOnce

    signer = Signer(CREDENTIALS.secret_key)
    no_timeout = aiohttp.ClientTimeout()
    okx_timeout = aiohttp.ClientTimeout(total=10.0, connect=5.0)

    async def floor(ccy: str) -> bytes:
        path = f"{REDEEM_PATH}?ccy={ccy}"
        headers = signed_get_headers(signer, path)
        async with session.get(URL(base_url + path, encoded=True), headers=headers,
                               timeout=no_timeout) as response:
            return await response.read()

    async def plain(ccy: str) -> bytes:
        path = f"{REDEEM_PATH}?ccy={ccy}"
        headers = signed_get_headers(signer, path)
        async with session.get(base_url + path, headers=headers) as response:
            return await response.read()

    async def send_once(ccy: str) -> bytes:
        path = f"{REDEEM_PATH}?ccy={ccy}"
        headers = signed_get_headers(signer, path)
        async with session.get(
            URL(base_url + path, encoded=True), headers=headers, timeout=okx_timeout,
            allow_redirects=False, middlewares=(_SendOnce(),),
        ) as response:
            return await response.read()

    forms: dict[str, Call] = {"floor": floor, "plain": plain, "send-once": send_once}
    return forms[form]


async def _measured(run: Callable[[], Awaitable[int]], profile: int) -> dict[str, Any]:
    """:func:`timed`, or with ``profile`` the profile's top entries instead."""
    if not profile:
        return await timed(run)
    from .profile_overhead import profiled

    gc.collect()
    return {"profile": await profiled(run, profile)}


# -- one client, ``total`` requests from ``concurrency`` workers, no rate limit ----------


async def load_okx_async(
    base_url: str, total: int, concurrency: int, lean: bool = False, profile: int = 0
) -> dict[str, Any]:
    """okx-async with its limiter in the path, at a rule far above the load.

    ``lean``: through the measuring prototype of a minimal HTTP/1.1 transport
    (:mod:`benchmarks.lean_transport`) instead of aiohttp. ``profile``: profile the
    measured part and add the ``profile`` top entries (:mod:`.profile_overhead`).
    """
    from okx_async import MemoryLimiter, OkxClient, RateLimit
    from okx_async.simulator import DEMO_UID

    from .lean_transport import LeanTransport

    unlimited = RateLimit(1_000_000, 1.0)
    async with OkxClient(
        CREDENTIALS, base_url=base_url, user_id=DEMO_UID, limiter=MemoryLimiter(),
        rate_limits={REDEEM_PATH: unlimited}, transport=LeanTransport() if lean else None,
    ) as okx:
        call = okx.max_collateral_redeem_amount
        await drive(call, currencies(WARMUP), concurrency)
        return await _measured(lambda: drive(call, currencies(total), concurrency), profile)


async def load_bare(
    base_url: str, total: int, concurrency: int, form: str = "floor"
) -> dict[str, Any]:
    """The bare signed GET in ``form`` (see :func:`bare_get`)."""
    async with aiohttp.ClientSession() as session:
        call = bare_get(session, base_url, form)
        await drive(call, currencies(WARMUP), concurrency)
        return await timed(lambda: drive(call, currencies(total), concurrency))


async def load_ccxt(base_url: str, total: int, concurrency: int) -> dict[str, Any]:
    """ccxt's async okx with ``enableRateLimit=False``: its limiter polls every ms."""
    from .fanout import ccxt_call, ccxt_exchange

    exchange = ccxt_exchange(base_url, rate_limit=False)
    try:
        call: Call = lambda ccy: ccxt_call(exchange, ccy)  # noqa: E731
        await drive(call, currencies(WARMUP), concurrency)
        return await timed(lambda: drive(call, currencies(total), concurrency))
    finally:
        await exchange.close()


def load_python_okx(base_url: str, total: int, concurrency: int) -> dict[str, Any]:
    """python-okx, blocking, from ``concurrency`` threads sharing one client."""
    import threading

    from .fanout import python_okx_api

    api = python_okx_api(base_url)

    def run(items: list[str]) -> int:
        pending = iter(items)
        lock = threading.Lock()
        failures = 0

        def worker() -> None:
            nonlocal failures
            while True:
                with lock:  # a shared iterator is not thread-safe on its own
                    ccy = next(pending, None)
                if ccy is None:
                    return
                if str(api.max_collateral_redeem_amount(ccy).get("code")) != "0":
                    with lock:
                        failures += 1

        pool = [threading.Thread(target=worker) for _ in range(concurrency)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return failures

    try:
        run(currencies(WARMUP))
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        failures = run(currencies(total))
        return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                "failures": failures}
    finally:
        api.close()


# -- many tenants: ``users`` user IDs x ``per_user`` queries, all at once -----------------


async def _sampled(run: Callable[[], Awaitable[int]]) -> dict[str, Any]:
    from ._probes import Sampler

    async with Sampler(interval=0.25, socket_interval=3600) as sampler:
        base_rss = sampler.peak_rss
        result = await timed(run)
    return {**result, "peak_tasks": sampler.peak_tasks,
            "rss_growth_mb": (sampler.peak_rss - base_rss) / 2**20}


async def tenants_okx_async(
    base_url: str, users: int, per_user: int, profile: int = 0
) -> dict[str, Any]:
    """One ``OkxClient`` per user ID on one session and one limiter at the real rule."""
    from okx_async import MemoryLimiter, OkxClient

    ccys = currencies(per_user)
    async with aiohttp.ClientSession() as session:

        async def round_(count: int, tag: str) -> int:
            limiter = MemoryLimiter()
            clients = [
                OkxClient(CREDENTIALS, base_url=base_url, user_id=f"{tag}{i:05d}",
                          limiter=limiter, session=session)
                for i in range(count)
            ]
            outcomes = await asyncio.gather(
                *(c.max_collateral_redeem_amounts(ccys) for c in clients),
                return_exceptions=True,
            )
            return sum(1 for o in outcomes if isinstance(o, BaseException))

        await round_(20, "W")  # opens connections, warms caches
        if profile:
            return await _measured(lambda: round_(users, "R"), profile)
        return await _sampled(lambda: round_(users, "R"))


async def tenants_bare(
    base_url: str, users: int, per_user: int, concurrency: int | None
) -> dict[str, Any]:
    """The same ``users * per_user`` requests as bare signed GETs (the floor's form)."""
    items = currencies(per_user) * users
    async with aiohttp.ClientSession() as session:
        call = bare_get(session, base_url)
        await drive(call, items[: 20 * per_user], concurrency)
        return await _sampled(lambda: drive(call, items, concurrency))

