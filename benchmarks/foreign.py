"""Foreign traffic: another program on the same user sends one request every 1.5 s.

It uses a second API key of the same user and no shared limiter, as a second bot or
the web UI would, so the client under test cannot see it. It starts a second before
the fan-out and keeps going until the fan-out is over. The server's log tells whose
request was refused. The least time is what the other program's *accepted* requests
leave: the earliest greedy schedule of N more arrivals beside them, never more than
5 in any 2 s (:func:`~okx_async.simulator.least_time_beside`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass

import aiohttp

from okx_async import MemoryLimiter, OkxBatchError, OkxClient
from okx_async._signing import Signer, okx_timestamp
from okx_async.simulator import DEMO_CREDENTIALS_2, DEMO_UID
from okx_async.simulator._algorithms import least_time_beside

from ._common import CREDENTIALS, LIMIT, RATE_LIMITED, REDEEM_PATH, WINDOW, currencies
from ._server import SimServer
from .fanout import ccxt_call, ccxt_exchange

#: The other program's pace and how long before the fan-out it started.
EVERY = 1.5
LEAD = 1.0
#: The currency the other program asks for, to tell its requests apart in the log.
THEIRS = "FOREIGN"


@dataclass
class ForeignResult:
    client: str
    n: int
    wall_s: float
    least_s: float
    successes: int
    rejections: int
    foreign_sent: int
    foreign_refused: int

    @property
    def ratio(self) -> float:
        return self.wall_s / self.least_s if self.least_s > 0 else float("inf")


async def _other_program(base_url: str, stop: asyncio.Event) -> None:
    signer = Signer(DEMO_CREDENTIALS_2.secret_key)
    path = f"{REDEEM_PATH}?ccy={THEIRS}"
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            timestamp = okx_timestamp()
            headers = {
                "OK-ACCESS-KEY": DEMO_CREDENTIALS_2.api_key,
                "OK-ACCESS-PASSPHRASE": DEMO_CREDENTIALS_2.passphrase,
                "OK-ACCESS-TIMESTAMP": timestamp,
                "OK-ACCESS-SIGN": signer.sign(timestamp, "GET", path),
            }
            async with session.get(base_url + path, headers=headers) as response:
                await response.read()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), EVERY)


async def _okx_async(base_url: str, ccys: list[str]) -> int:
    async with OkxClient(
        CREDENTIALS, base_url=base_url, user_id=DEMO_UID, limiter=MemoryLimiter()
    ) as okx:
        try:
            return len(await okx.max_collateral_redeem_amounts(ccys))
        except OkxBatchError as exc:
            return len(exc.results)


async def _ccxt(base_url: str, ccys: list[str]) -> int:
    exchange = ccxt_exchange(base_url, rate_limit=True)
    try:
        outcomes = await asyncio.gather(
            *(ccxt_call(exchange, ccy) for ccy in ccys), return_exceptions=True
        )
    finally:
        await exchange.close()
    return sum(1 for o in outcomes if not isinstance(o, BaseException))


async def foreign_case(client: str, n: int) -> ForeignResult:
    ccys = currencies(n)
    with SimServer(limit=LIMIT, window=WINDOW) as server:
        stop = asyncio.Event()
        other = asyncio.create_task(_other_program(server.base_url, stop))
        await asyncio.sleep(LEAD)
        start = time.monotonic()
        run = _okx_async if client == "okx-async" else _ccxt
        successes = await run(server.base_url, ccys)
        wall = time.monotonic() - start
        stop.set()
        await other
        arrivals = server.finish()
    theirs = [a for a in arrivals if a.ccy == THEIRS and start <= a.t <= start + wall]
    ours = [a for a in arrivals if a.ccy != THEIRS and a.endpoint == REDEEM_PATH]
    accepted = [a.t - start for a in theirs if a.code == "0"]
    result = ForeignResult(
        client=client,
        n=n,
        wall_s=wall,
        least_s=least_time_beside(accepted, n, LIMIT, WINDOW),
        successes=successes,
        rejections=sum(1 for a in ours if a.code == RATE_LIMITED),
        foreign_sent=len(theirs),
        foreign_refused=sum(1 for a in theirs if a.code == RATE_LIMITED),
    )
    print(
        f"  foreign  {client:<10} N={n} {wall:6.2f} s  least {result.least_s:5.2f} s  "
        f"x{result.ratio:.2f}  50011: {result.rejections}  "
        f"theirs refused: {result.foreign_refused}/{result.foreign_sent}",
        file=sys.stderr, flush=True,
    )
    return result


async def run_foreign(n: int) -> list[ForeignResult]:
    return [await foreign_case("okx-async", n), await foreign_case("ccxt", n)]
