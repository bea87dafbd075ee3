"""Client overhead: requests per second and CPU per request with no rate limit in the way.

The simulator runs in a child process (``rate_limit=False``), so ``time.process_time()``
of this process is the client's CPU alone: its Python, its HTTP stack, its threads.
Every client is driven the same way: ``concurrency`` workers each send requests one
after another until the total is reached, after a warm-up that opens the connections.
Rounds are interleaved across clients and the median round is reported. A bare
aiohttp GET with signed headers is measured too, as the floor any aiohttp-based
client (okx-async and ccxt both are) cannot go below.

Rate limiters are kept out of the way differently, because each client has a different
switch: okx-async keeps its limiter in the path with a rule far above the load, so its
cost is counted; ccxt runs with ``enableRateLimit=False`` (its limiter polls every
millisecond, which would be charged to it otherwise); python-okx has none. That
favours ccxt, so the ratios are conservative for okx-async.

A second part times the pure per-request work without any network: signing, header
building and decoding one answer, for each client.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import aiohttp
from okx import utils as okx_utils
from yarl import URL

from okx_async import LimitKey, MemoryLimiter, OkxClient, RateLimit
from okx_async._decode import decode_envelope
from okx_async._endpoints import MAX_COLLATERAL_REDEEM_AMOUNT
from okx_async._request import build
from okx_async._signing import RequestSigner, Signer
from okx_async._transport import _SendOnce
from okx_async.simulator import DEMO_UID

from ._common import CREDENTIALS, REDEEM_PATH, currencies, signed_get_headers
from ._server import ANY_AMOUNT, SimServer
from .fanout import _ccxt_exchange, ccxt_call, python_okx_api

#: A rule no benchmark load comes near, so okx-async's limiter admits at once.
UNLIMITED = RateLimit(1_000_000, 1.0)
WARMUP = 100
#: The simulator's answer, byte for byte, for the no-network timing.
ANSWER = json.dumps(
    {"code": "0", "msg": "", "data": [{"ccy": "USDT", "maxRedeemAmt": ANY_AMOUNT}]},
    separators=(",", ":"),
).encode()


class Sample(NamedTuple):
    """One timed batch of requests."""

    wall_s: float
    cpu_s: float
    failures: int


@dataclass
class LoadResult:
    """``requests`` sent by ``concurrency`` workers, ``rounds`` times; medians reported."""

    client: str
    concurrency: int
    requests: int
    rounds: int
    wall_s: float
    cpu_s: float
    failures: int
    #: CPU microseconds per request in each round, to show the spread.
    cpu_us_rounds: list[float]

    @classmethod
    def from_samples(
        cls, client: str, concurrency: int, requests: int, samples: list[Sample]
    ) -> LoadResult:
        return cls(
            client=client,
            concurrency=concurrency,
            requests=requests,
            rounds=len(samples),
            wall_s=statistics.median(s.wall_s for s in samples),
            cpu_s=statistics.median(s.cpu_s for s in samples),
            failures=sum(s.failures for s in samples),
            cpu_us_rounds=[round(s.cpu_s / requests * 1e6, 1) for s in samples],
        )

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s

    @property
    def cpu_us(self) -> float:
        """Client CPU per request, in microseconds (median round)."""
        return self.cpu_s / self.requests * 1e6


@dataclass
class CodecResult:
    """Signing + headers + decoding of one request with no network, per client."""

    client: str
    us_per_request: float


async def _drive(call: Callable[[str], Awaitable[Any]], total: int, concurrency: int) -> int:
    """Send ``total`` requests from ``concurrency`` tasks; return how many failed."""
    ccys = iter(currencies(total))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for ccy in ccys:  # one shared iterator: the workers split the work
            try:
                await call(ccy)
            except Exception:
                failures += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


async def _sample_async(
    call: Callable[[str], Awaitable[Any]], total: int, concurrency: int
) -> Sample:
    await _drive(call, WARMUP, concurrency)  # opens the connections, fills caches
    cpu, wall = time.process_time(), time.perf_counter()
    failures = await _drive(call, total, concurrency)
    return Sample(time.perf_counter() - wall, time.process_time() - cpu, failures)


async def _okx_async(base_url: str, total: int, concurrency: int) -> Sample:
    async with OkxClient(
        CREDENTIALS,
        base_url=base_url,
        user_id=DEMO_UID,
        limiter=MemoryLimiter(),
        rate_limits={REDEEM_PATH: UNLIMITED},
    ) as okx:
        return await _sample_async(okx.max_collateral_redeem_amount, total, concurrency)


async def _aiohttp_floor(base_url: str, total: int, concurrency: int) -> Sample:
    """A bare aiohttp GET with correctly signed headers: what any aiohttp client pays."""
    signer = Signer(CREDENTIALS.secret_key)

    async with aiohttp.ClientSession() as session:

        async def call(ccy: str) -> bytes:
            path = f"{REDEEM_PATH}?ccy={ccy}"
            headers = signed_get_headers(signer, path)
            async with session.get(base_url + path, headers=headers) as response:
                return await response.read()

        return await _sample_async(call, total, concurrency)


async def _aiohttp_send_once(base_url: str, total: int, concurrency: int) -> Sample:
    """The floor plus what okx-async's transport adds for correctness: the bytes sent
    exactly as signed (``URL(encoded=True)``), no redirects, the per-request timeout,
    and the middleware that refuses aiohttp's hidden resend."""
    signer = Signer(CREDENTIALS.secret_key)
    timeout = aiohttp.ClientTimeout(total=10.0, connect=5.0)

    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def call(ccy: str) -> bytes:
            path = f"{REDEEM_PATH}?ccy={ccy}"
            headers = signed_get_headers(signer, path)
            async with session.get(
                URL(base_url + path, encoded=True), headers=headers, timeout=timeout,
                allow_redirects=False, middlewares=(_SendOnce(),),
            ) as response:
                return await response.read()

        return await _sample_async(call, total, concurrency)


async def _ccxt(base_url: str, total: int, concurrency: int) -> Sample:
    exchange = _ccxt_exchange(base_url, rate_limit=False)
    try:
        return await _sample_async(lambda ccy: ccxt_call(exchange, ccy), total, concurrency)
    finally:
        await exchange.close()


def _drive_threads(call: Callable[[str], dict[str, Any]], total: int, threads: int) -> int:
    """Like :func:`_drive`, with ``threads`` OS threads sharing one blocking client."""
    ccys = iter(currencies(total))
    lock = threading.Lock()
    failures = 0

    def worker() -> None:
        nonlocal failures
        while True:
            with lock:  # a shared iterator is not thread-safe on its own
                ccy = next(ccys, None)
            if ccy is None:
                return
            if str(call(ccy).get("code")) != "0":
                with lock:
                    failures += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return failures


def _python_okx_blocking(base_url: str, total: int, concurrency: int) -> Sample:
    api = python_okx_api(base_url)
    try:
        _drive_threads(api.max_collateral_redeem_amount, WARMUP, concurrency)
        cpu, wall = time.process_time(), time.perf_counter()
        failures = _drive_threads(api.max_collateral_redeem_amount, total, concurrency)
        return Sample(time.perf_counter() - wall, time.process_time() - cpu, failures)
    finally:
        api.close()


async def _python_okx(base_url: str, total: int, concurrency: int) -> Sample:
    # Blocking threads: run them off the loop, which sits idle meanwhile.
    return await asyncio.to_thread(_python_okx_blocking, base_url, total, concurrency)


#: Every client measured, in table order; "aiohttp floor" is a reference, not a rival.
CLIENTS: dict[str, Callable[[str, int, int], Awaitable[Sample]]] = {
    "okx-async": _okx_async,
    "aiohttp floor": _aiohttp_floor,
    "floor + send-once": _aiohttp_send_once,
    "ccxt": _ccxt,
    "python-okx": _python_okx,
}


async def run_load(
    total: int, rounds: int, concurrencies: tuple[int, ...] = (1, 50)
) -> list[LoadResult]:
    """Each client at each concurrency against one unlimited simulator child.

    Rounds are interleaved (every client once, then again) so a slow spell on the
    machine hits all clients alike; the median round is reported.
    """
    samples: dict[tuple[str, int], list[Sample]] = defaultdict(list)
    with SimServer(rate_limit=False) as server:
        for _ in range(rounds):
            for concurrency in concurrencies:
                for name, sample in CLIENTS.items():
                    samples[name, concurrency].append(
                        await sample(server.base_url, total, concurrency)
                    )
        server.finish()
    results = [
        LoadResult.from_samples(name, concurrency, total, runs)
        for (name, concurrency), runs in samples.items()
    ]
    for r in results:
        print(
            f"  overhead {r.client:<13} concurrency {r.concurrency:<3} {r.rps:8.0f} req/s  "
            f"{r.cpu_us:6.0f} us CPU/request (rounds: {r.cpu_us_rounds})",
            file=sys.stderr,
            flush=True,
        )
    return results


# -- the same work with no network --------------------------------------------------------


def _okx_async_codec() -> Callable[[], object]:
    signer = RequestSigner(
        CREDENTIALS.api_key, CREDENTIALS.secret_key, CREDENTIALS.passphrase, demo=False
    )
    endpoint = MAX_COLLATERAL_REDEEM_AMOUNT
    key = LimitKey(DEMO_UID, endpoint.path)

    def one() -> object:
        # What the pipeline does per request besides I/O and the limiter: check the
        # arguments, build the request, sign, decode, build the model.
        request = build(
            endpoint.method, endpoint.path, endpoint.wire({"ccy": "USDT"}), key=key,
            rule=endpoint.rule, kind=endpoint.kind,
        )
        signer.headers(request.method, request.target, request.body, time.time())
        return endpoint.result(decode_envelope(200, ANSWER))

    return one


def _ccxt_codec() -> Callable[[], object]:
    exchange = _ccxt_exchange("http://127.0.0.1:9", rate_limit=False)
    path = "finance/flexible-loan/max-collateral-redeem-amount"
    text = ANSWER.decode()

    def one() -> object:
        exchange.sign(path, ["private"], "GET", {"ccy": "USDT"})
        return exchange.parse_json(text)

    return one


def _python_okx_codec() -> Callable[[], object]:
    text = ANSWER.decode()

    def one() -> object:
        # python-okx's OkxClient._request, minus the HTTP call.
        path = REDEEM_PATH + okx_utils.parse_params_to_str({"ccy": "USDT"})
        timestamp = okx_utils.get_timestamp()
        message = okx_utils.pre_hash(timestamp, "GET", path, "", False)
        signature = okx_utils.sign(message, CREDENTIALS.secret_key)
        okx_utils.get_header(
            CREDENTIALS.api_key, signature, timestamp, CREDENTIALS.passphrase, "0", False
        )
        return json.loads(text)

    return one


def _time_per_call(one: Callable[[], object], iterations: int, repeats: int = 5) -> float:
    """Best-of-``repeats`` seconds per call: the minimum is the least disturbed run."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            one()
        best = min(best, (time.perf_counter() - start) / iterations)
    return best


def run_codec(iterations: int) -> list[CodecResult]:
    """Per-request signing and decoding cost of each client, no network, no event loop."""
    makers = {"okx-async": _okx_async_codec, "ccxt": _ccxt_codec, "python-okx": _python_okx_codec}
    results = [
        CodecResult(name, _time_per_call(make(), iterations) * 1e6)
        for name, make in makers.items()
    ]
    for r in results:
        print(f"  codec    {r.client:<10} {r.us_per_request:7.1f} us/request", file=sys.stderr)
    return results
