"""Client overhead: requests per second and CPU per request with no rate limit in the way.

The simulator runs in a child process (``rate_limit=False``), and each measurement
runs in a fresh child of its own (``_isolated``, ``_cpu``), so ``time.process_time()``
there is the client's CPU alone, and no client pays for another's heap. Every client
is driven the same way: ``concurrency`` workers each send requests one after another
until the total is reached, after a warm-up that opens the connections. Rounds are
interleaved across clients and the median round is reported. The "aiohttp floor" is
the cheapest way found to send the same signed requests (:mod:`benchmarks._cpu`).

Rate limiters are kept out of the way differently, because each client has a different
switch: okx-async keeps its limiter in the path with a rule far above the load, so its
cost is counted; ccxt runs with ``enableRateLimit=False`` (its limiter polls every
millisecond, which would be charged to it otherwise); python-okx has none. That
favours ccxt, so the ratios are conservative for okx-async.

A second part times the pure per-request work without any network: signing, header
building and decoding one answer, for each client.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from okx import utils as okx_utils

from okx_async import LimitKey
from okx_async._decode import decode_envelope
from okx_async._endpoints import MAX_COLLATERAL_REDEEM_AMOUNT
from okx_async._request import build
from okx_async._signing import RequestSigner
from okx_async.simulator import DEMO_UID

from ._common import CREDENTIALS, REDEEM_PATH
from ._isolated import run_isolated
from ._server import ANY_AMOUNT, SimServer
from .fanout import ccxt_exchange

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


#: Every client measured, in table order: the function that measures it in its
#: child (:mod:`benchmarks._cpu`) and its arguments. The floors are references.
CLIENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "okx-async": ("load_okx_async", {}),
    "aiohttp floor": ("load_bare", {"form": "floor"}),
    "floor + send-once": ("load_bare", {"form": "send-once"}),
    "ccxt": ("load_ccxt", {}),
    "python-okx": ("load_python_okx", {}),
    "okx-async, lean transport": ("load_okx_async", {"lean": True}),
}


def _sample(name: str, base_url: str, total: int, concurrency: int) -> Sample:
    function, options = CLIENTS[name]
    out = run_isolated(f"benchmarks._cpu:{function}", base_url=base_url, total=total,
                       concurrency=concurrency, **options)
    return Sample(out["wall_s"], out["cpu_s"], out["failures"])


def run_load(
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
                for name in CLIENTS:
                    samples[name, concurrency].append(
                        _sample(name, server.base_url, total, concurrency)
                    )
        server.finish()
    results = [
        LoadResult.from_samples(name, concurrency, total, runs)
        for (name, concurrency), runs in samples.items()
    ]
    for r in results:
        print(
            f"  overhead {r.client:<17} concurrency {r.concurrency:<3} {r.rps:8.0f} req/s  "
            f"{r.cpu_us:6.0f} us CPU/request (rounds: {r.cpu_us_rounds})",
            file=sys.stderr,
            flush=True,
        )
    return results


@dataclass
class FloorResult:
    """One form of the bare signed GET at one concurrency (:func:`benchmarks._cpu.bare_get`)."""

    form: str
    concurrency: int
    requests: int
    cpu_us_rounds: list[float]

    @property
    def cpu_us(self) -> float:
        return statistics.median(self.cpu_us_rounds)


def run_floors(
    total: int, rounds: int, concurrencies: tuple[int, ...] = (10, 20, 50, 100, 300)
) -> list[FloorResult]:
    """The bare GET's forms at several concurrencies: where the cheapest floor is."""
    samples: dict[tuple[str, int], list[float]] = defaultdict(list)
    forms = ("floor", "plain", "send-once")
    with SimServer(rate_limit=False) as server:
        for _ in range(rounds):
            for concurrency in concurrencies:
                for form in forms:
                    out = run_isolated("benchmarks._cpu:load_bare", base_url=server.base_url,
                                       total=total, concurrency=concurrency, form=form)
                    samples[form, concurrency].append(round(out["cpu_s"] / total * 1e6, 1))
        server.finish()
    results = [FloorResult(form, c, total, runs) for (form, c), runs in samples.items()]
    for r in results:
        print(f"  floors   {r.form:<9} concurrency {r.concurrency:<3} {r.cpu_us:6.0f} us "
              f"CPU/request (rounds: {r.cpu_us_rounds})", file=sys.stderr, flush=True)
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
    exchange = ccxt_exchange("http://127.0.0.1:9", rate_limit=False)
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
