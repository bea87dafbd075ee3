"""The aiohttp.web app that plays OKX v5 for a few endpoints, honestly.

It checks signatures and enforces the per-(user ID, endpoint) rate limit the way OKX
does, so a client bug shows up as a failed request rather than passing unnoticed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal

import attrs
from aiohttp import web

from . import _answers as answers
from ._account import LoanAccount, OrderSeed, RefIds
from ._algorithms import AlgorithmName, RateLimitAlgorithm, SlidingLog, make_algorithm
from ._answers import Answer
from ._auth import expected_signature, timestamp_seconds
from ._call import Call
from ._demo import (
    DEFAULT_AMOUNTS,
    DEMO_CREDENTIALS,
    DEMO_CREDENTIALS_2,
    DEMO_KEYS,
    SimKey,
    initial_orders,
)
from ._faults import FaultKind, FaultPlan, FaultSpec
from ._flow import RequestFlow, Rule, path_rule, path_rules
from ._idempotency import RETENTION, ClOrdIdStore
from ._loan import REDEEM_PATH, ROUTES, Handler
from ._loan import answer as loan_answer

logger = logging.getLogger(__name__)

RateLimitStyle = Literal["modern", "legacy-200", "legacy-int"]
Amounts = Mapping[str, str] | Callable[[str], str | None]

CONFIG_PATH: Final = "/api/v5/account/config"
TIME_PATH: Final = "/api/v5/public/time"

#: OKX's rule for /public/time: 10 per 2 s per IP, whatever ``limit`` and ``window`` say.
_PUBLIC_LIMIT: Final = 10
_PUBLIC_WINDOW: Final = 2.0
#: How far OK-ACCESS-TIMESTAMP may be from the server clock.
_MAX_CLOCK_DIFFERENCE: Final = 30.0
#: Past this many per-IP limiters, idle ones are dropped, so a long-running standalone
#: server does not keep one for every address that ever called it.
_MAX_IDLE_BUCKETS: Final = 1024
_ALGORITHMS: Final = ("sliding-log", "fixed-window", "token-bucket", "sliding-window-counter")
_STYLES: Final = ("modern", "legacy-200", "legacy-int")


@attrs.frozen
class Arrival:
    """One authenticated request to a rate-limited endpoint, as the server counted it.

    ``t`` is ``time.monotonic()`` at the moment of counting (the test process and the
    client share that clock). ``code`` is the OKX code answered; it is ``""`` for the
    faults that carry none (the HTML 502 and the dropped connection, whose ``status``
    is 0). ``body`` is the raw request body as received (empty for a GET).
    """

    t: float
    uid: str
    endpoint: str
    ccy: str | None
    api_key: str
    status: int
    code: str
    method: str = "GET"
    body: bytes = b""


def _check_rate(name: str, value: float) -> float:
    """Validate a probability option."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def _check_latency(name: str, value: tuple[float, float]) -> tuple[float, float]:
    """Validate a ``(low, high)`` delay option."""
    low, high = value
    if not 0.0 <= low <= high:
        raise ValueError(f"{name} must be (low, high) with 0 <= low <= high, got {value!r}")
    return (float(low), float(high))


def _encode(value: str) -> bytes:
    """Bytes for ``hmac.compare_digest``, which refuses non-ASCII str."""
    return value.encode("utf-8", "replace")


class Simulator:
    """A local OKX look-alike on loopback HTTP, for tests, demos and benchmarks.

    Usage::

        async with Simulator(limit=5, window=0.2) as sim:
            client = OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url)
            ...
            assert not sim.rejections()

    Endpoints: the ten Flexible Loan endpoints under ``/api/v5/finance/flexible-loan/``
    (all but emode-info, whose fields OKX does not publish) and
    ``GET /api/v5/account/config``, private and limited per user ID and path; and
    ``GET /api/v5/public/time`` (public, 10 per 2 s per IP).

    Limits: ``window`` seconds stands for OKX's 2 s. Each private path allows ``limit``
    requests per window, except borrow and repay, which allow OKX's 2 whatever
    ``limit`` is. ``rules`` sets any path's ``(requests, seconds)`` exactly, by path or
    by a Flexible Loan endpoint's name: ``rules={"repay": (2, 0.2)}``.
    ``rate_limit=False`` lifts every limit, the public one included.

    Accounts: each user has loan orders (see ``_account.py`` for the model and its LTV
    arithmetic). ``orders`` seeds them (``[]`` for none, ``[OrderSeed(...), ...]`` for
    several); without it the default amounts make the two demo orders, and your own
    ``amounts`` (currency to amount) one order owing ``loans`` (nothing by default). A
    callable ``amounts`` answers max-collateral-redeem-amount alone, outside the
    account. ``accounts[uid]`` is a user's live state: ``.orders``, ``.closed``,
    ``.history`` and ``.applied[("borrow" | "repay", clOrdId)]``, how many times a
    keyed write executed (exactly once, however often it was sent).

    borrow and repay keep each ``clOrdId`` ``cl_ord_id_retention`` seconds (OKX: 60)
    from the first request, per user and path: a duplicate of a completed request gets
    51016, of one still in flight 51784.

    Faults (see ``_faults.py``): ``faults`` scripts them per endpoint, one entry per
    counted request, so a test can make each fire exactly once (``Fault`` is exported
    beside ``Simulator``)::

        Simulator(faults={"borrow": ["drop"],                 # the first borrow's answer lost
                          "repay": [None, Fault(hold=1.5)],   # the second repay held 1.5 s
                          "adjust-collateral": ["garbled"]})  # executed, answered 200 non-JSON

    The ``*_rate`` options draw faults at random, after any script, only on
    ``fault_endpoints`` if given. A dropped connection, an HTML 502 and a garbled 200
    come after the request executed (the answer is lost on the way back); 50001 and
    50013 come before, and change nothing. ``pending_faults()`` lists the scripted
    faults not yet used.
    """

    def __init__(
        self,
        *,
        keys: Mapping[str, SimKey] = DEMO_KEYS,
        amounts: Amounts = DEFAULT_AMOUNTS,
        loans: Mapping[str, str] | None = None,
        orders: Sequence[OrderSeed] | None = None,
        limit: int = 5,
        window: float = 2.0,
        rules: Mapping[str, Rule] | None = None,
        rate_limit: bool = True,
        algorithm: AlgorithmName = "sliding-log",
        request_latency: tuple[float, float] = (0.0, 0.0),
        response_latency: tuple[float, float] = (0.0, 0.0),
        html_error_rate: float = 0.0,
        server_error_rate: float = 0.0,
        busy_rate: float = 0.0,
        drop_rate: float = 0.0,
        garbled_rate: float = 0.0,
        fault_endpoints: Collection[str] | None = None,
        faults: Mapping[str, Sequence[FaultSpec]] | None = None,
        cl_ord_id_retention: float = RETENTION,
        clock_skew: float = 0.0,
        rate_limit_style: RateLimitStyle = "modern",
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        if window <= 0:
            raise ValueError(f"window must be positive, got {window!r}")
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; choose from {_ALGORITHMS}")
        if rate_limit_style not in _STYLES:
            raise ValueError(
                f"unknown rate_limit_style {rate_limit_style!r}; choose from {_STYLES}"
            )
        self._keys = keys
        #: Canned max-redeem answers, when ``amounts`` is a callable.
        self._canned: Callable[[str], str | None] | None = (
            None if isinstance(amounts, Mapping) else amounts
        )
        self._orders = initial_orders(amounts, loans, orders)
        self._ref_ids = RefIds()
        #: Each user's Flexible Loan account, created at the user's first request.
        self.accounts: dict[str, LoanAccount] = {}
        self._limit = limit
        self._window = window
        self._rules = path_rules(rules)
        self._rate_limit = rate_limit
        self._algorithm: AlgorithmName = algorithm
        self._request_latency = _check_latency("request_latency", request_latency)
        self._response_latency = _check_latency("response_latency", response_latency)
        self._clock_skew = clock_skew
        self._throttled = answers.THROTTLED[rate_limit_style]
        self._rng = random.Random(seed)
        # Random faults are checked in this order and the first that fires wins.
        rates: list[tuple[float, FaultKind]] = [
            (_check_rate("drop_rate", drop_rate), "drop"),
            (_check_rate("html_error_rate", html_error_rate), "html"),
            (_check_rate("server_error_rate", server_error_rate), "server-error"),
            (_check_rate("busy_rate", busy_rate), "busy"),
            (_check_rate("garbled_rate", garbled_rate), "garbled"),
        ]
        known = {path for _, path in ROUTES} | {CONFIG_PATH}
        plan = FaultPlan(
            scripts=faults, rates=rates, endpoints=fault_endpoints, known=known, rng=self._rng
        )
        self._flow = RequestFlow(plan, ClOrdIdStore(cl_ord_id_retention), clock=time.monotonic)
        self._host = host
        self._port = port
        self._origin = time.monotonic()
        self._limiters: dict[tuple[str, str], RateLimitAlgorithm] = {}
        self._public_limiters: dict[str, SlidingLog] = {}
        self._runner: web.AppRunner | None = None
        self._routes: dict[
            tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]
        ] = {
            ("GET", CONFIG_PATH): self._handle_config,
            ("GET", TIME_PATH): self._handle_time,
        }
        for route, handler in ROUTES.items():
            self._routes[route] = self._loan_handler(handler)
        #: Every authenticated request to a rate-limited endpoint, in arrival order.
        self.arrivals: list[Arrival] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Simulator:
        """Bind the socket and start serving; returns ``self``."""
        if self._runner is not None:
            raise RuntimeError("Simulator already started")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # No access log: benchmarks push tens of thousands of requests through here.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        # Windows of fixed-window and sliding-window-counter are aligned to this moment.
        self._origin = time.monotonic()
        logger.info("OKX simulator listening on %s", self.base_url)
        return self

    async def close(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("OKX simulator on %s stopped", self.base_url)

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- inspection --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``, with the real port once started."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    def rejections(self, uid: str | None = None, endpoint: str | None = None) -> list[Arrival]:
        """The arrivals answered with 50011, optionally for one user and/or one path."""
        return [
            a
            for a in self.arrivals
            if a.code == "50011"
            and (uid is None or a.uid == uid)
            and (endpoint is None or a.endpoint == endpoint)
        ]

    def pending_faults(self) -> dict[str, int]:
        """Scripted faults not yet used, per path."""
        return self._flow.plan.pending()

    def wall_time(self) -> float:
        """The server's Unix time in seconds, including ``clock_skew``."""
        return time.time() + self._clock_skew

    def __repr__(self) -> str:
        state = "running" if self._runner is not None else "stopped"
        return (
            f"Simulator({self.base_url}, {state}, limit={self._limit}/{self._window}s "
            f"{self._algorithm}, arrivals={len(self.arrivals)})"
        )

    # -- request handling --------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        """Route by method and exact path; everything else is a JSON 404."""
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            return answers.NOT_FOUND.response()
        # The request spends this long on the network before the server sees it.
        await self._delay(self._request_latency)
        return await handler(request)

    def _loan_handler(
        self, handler: Handler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A route serving one Flexible Loan endpoint from the caller's account."""

        def business(call: Call) -> Answer:
            if handler is ROUTES["GET", REDEEM_PATH] and self._canned is not None:
                return self._canned_redeem(call)
            return loan_answer(handler, call, self.account(call.key.uid))

        async def route(request: web.Request) -> web.StreamResponse:
            return await self._private(request, business)

        return route

    def account(self, uid: str) -> LoanAccount:
        """The Flexible Loan account of ``uid``, created from the seed at first use."""
        account = self.accounts.get(uid)
        if account is None:
            now_ms = int(self.wall_time() * 1000)
            account = LoanAccount({}, {}, self._ref_ids, now_ms, orders=self._orders)
            self.accounts[uid] = account
        return account

    async def _handle_config(self, request: web.Request) -> web.StreamResponse:
        """GET account/config."""
        return await self._private(request, _config_answer)

    async def _handle_time(self, request: web.Request) -> web.StreamResponse:
        """GET public/time, limited per client IP."""
        now = time.monotonic()
        if self._rate_limit and not self._public_limiter(request.remote or "", now).try_acquire(
            now
        ):
            logger.debug("throttled %s from %s", TIME_PATH, request.remote)
            answer = self._throttled
        else:
            answer = answers.ok([{"ts": str(int(self.wall_time() * 1000))}])
        await self._delay(self._response_latency)
        return answer.response()

    async def _private(
        self, request: web.Request, business: Callable[[Call], Answer]
    ) -> web.StreamResponse:
        """Authenticate, count, maybe fault, then answer; logs one Arrival."""
        raw = await request.read()
        authenticated = self._authenticate(request, raw)
        if isinstance(authenticated, Answer):
            return authenticated.response()
        api_key, key = authenticated
        path = request.path
        now = time.monotonic()
        body: Mapping[str, Any] | Answer = _json_body(request, raw)
        if self._rate_limit and not self._limiter(key.uid, path).try_acquire(now):
            logger.debug("throttled uid %s on %s (api key %s)", key.uid, path, api_key)
            answer = self._throttled
        elif isinstance(body, Answer):
            answer = body
        else:
            fields = body  # the narrowed type, for the closure

            def execute() -> Answer:
                return business(Call(key, request.query, fields, int(self.wall_time() * 1000)))

            answer = await self._flow.answer(key.uid, path, body, execute)
        ccy = request.query.get("ccy")
        if ccy is None and isinstance(body, Mapping):
            named = body.get("collateralCcy", body.get("borrowCcy", body.get("ccy")))
            ccy = named if isinstance(named, str) else None
        self.arrivals.append(Arrival(
            now, key.uid, path, ccy, api_key, answer.status, answer.code, request.method, raw
        ))
        await self._delay(self._response_latency)
        if answer is answers.DROP:
            return _drop(request)
        return answer.response()

    def _authenticate(self, request: web.Request, body: bytes) -> tuple[str, SimKey] | Answer:
        """Check the OKX v5 auth headers in OKX's order; the key, or the 401 to send.

        The signature is checked over the raw body bytes as received.
        """
        headers = request.headers
        api_key = headers.get("OK-ACCESS-KEY", "")
        passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")
        signature = headers.get("OK-ACCESS-SIGN", "")
        timestamp = headers.get("OK-ACCESS-TIMESTAMP", "")
        key = self._keys.get(api_key)
        failure: Answer | None = None
        if not api_key:
            failure = answers.MISSING_KEY
        elif not passphrase:
            failure = answers.MISSING_PASSPHRASE
        elif not signature:
            failure = answers.MISSING_SIGN
        elif not timestamp:
            failure = answers.MISSING_TIMESTAMP
        elif key is None:
            failure = answers.UNKNOWN_KEY
        elif (sent_at := timestamp_seconds(timestamp)) is None:
            failure = answers.BAD_TIMESTAMP
        elif abs(sent_at - self.wall_time()) > _MAX_CLOCK_DIFFERENCE:
            failure = answers.EXPIRED
        elif not hmac.compare_digest(_encode(passphrase), _encode(key.passphrase)):
            failure = answers.BAD_PASSPHRASE
        elif key.demo is not None and key.demo != (headers.get("x-simulated-trading") == "1"):
            failure = answers.WRONG_ENVIRONMENT
        else:
            expected = expected_signature(
                key.secret_key, timestamp, request.method, request.raw_path, body
            )
            if not hmac.compare_digest(_encode(expected), _encode(signature)):
                failure = answers.BAD_SIGN
        if failure is None and key is not None:  # key is None implies a failure above
            return api_key, key
        failure = failure or answers.UNKNOWN_KEY
        # The API key is an identifier, not a secret; the other headers stay out of the log.
        logger.debug("refused %s: %s (api key %r)", request.path, failure.code, api_key)
        return failure

    def _canned_redeem(self, call: Call) -> Answer:
        """max-collateral-redeem-amount from a callable ``amounts``, outside the account."""
        assert self._canned is not None
        ccy = call.query.get("ccy", "")
        amount = self._canned(ccy) if ccy else None
        if amount is None:
            return answers.BAD_CCY
        return answers.ok([{"ccy": ccy, "maxRedeemAmt": amount}])

    async def _delay(self, bounds: tuple[float, float]) -> None:
        """Sleep a uniform random time in ``bounds``; free when they are (0, 0)."""
        low, high = bounds
        if high > 0.0:
            await asyncio.sleep(self._rng.uniform(low, high))

    def _limiter(self, uid: str, path: str) -> RateLimitAlgorithm:
        """The limiter state of one (user ID, path) bucket."""
        bucket = self._limiters.get((uid, path))
        if bucket is None:
            limit, window = path_rule(path, self._limit, self._window, self._rules)
            bucket = make_algorithm(self._algorithm, limit, window, self._origin)
            self._limiters[uid, path] = bucket
        return bucket

    def _public_limiter(self, ip: str, now: float) -> SlidingLog:
        """The limiter of one client IP for /public/time."""
        bucket = self._public_limiters.get(ip)
        if bucket is None:
            if len(self._public_limiters) >= _MAX_IDLE_BUCKETS:
                self._public_limiters = {
                    k: v for k, v in self._public_limiters.items() if not v.idle(now)
                }
            bucket = self._public_limiters[ip] = SlidingLog(_PUBLIC_LIMIT, _PUBLIC_WINDOW)
        return bucket


def _config_answer(call: Call) -> Answer:
    """The business answer of account/config for a main-account key."""
    key = call.key
    config = {
        "uid": key.uid,
        "mainUid": key.uid,
        "acctLv": "2",
        "acctStpMode": "cancel_maker",
        "autoLoan": False,
        "ctIsoMode": "automatic",
        "greeksType": "PA",
        "ip": "",
        "label": "okx-async simulator",
        "level": "Lv1",
        "levelTmp": "",
        "mgnIsoMode": "automatic",
        "perm": key.perm,
        "posMode": "net_mode",
        "roleType": "0",
        "spotOffsetType": "",
        "traderInsts": [],
        "type": "0",
    }
    return answers.ok([config])


def _json_body(request: web.Request, raw: bytes) -> Mapping[str, Any] | Answer:
    """A POST's JSON object body ({} for a GET), or OKX's answer to a malformed one."""
    if request.method != "POST":
        return {}
    if request.content_type != "application/json":
        return answers.BAD_JSON
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return answers.BAD_JSON
    return body if isinstance(body, dict) else answers.BAD_JSON


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without a byte of answer."""
    if request.transport is not None:
        request.transport.close()
    # aiohttp fails to write this to the closed transport and drops it quietly.
    return web.Response(status=500)


async def serve(host: str, port: int, **options: Any) -> None:
    """Run a simulator until cancelled, printing its URL and the fake demo credentials."""
    async with Simulator(host=host, port=port, **options) as sim:
        print(f"OKX simulator listening on {sim.base_url}", flush=True)
        if options.get("keys", DEMO_KEYS) is DEMO_KEYS:
            print("Demo credentials (FAKE, public test values; they only work here):")
            for credentials, perm in ((DEMO_CREDENTIALS, "read only"),
                                      (DEMO_CREDENTIALS_2, "read and trade")):
                print(
                    f"  api key {credentials.api_key}  secret {credentials.secret_key}  "
                    f"passphrase {credentials.passphrase}  ({perm})"
                )
        else:
            print("API keys: " + ", ".join(sorted(sim._keys)))
        print("Press Ctrl+C to stop.", flush=True)
        await asyncio.Event().wait()
