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
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Literal

import attrs
from aiohttp import web

from ._algorithms import AlgorithmName, RateLimitAlgorithm, SlidingLog, make_algorithm
from ._auth import expected_signature, timestamp_seconds
from ._demo import DEFAULT_AMOUNTS, DEMO_CREDENTIALS, DEMO_CREDENTIALS_2, DEMO_KEYS, SimKey

logger = logging.getLogger(__name__)

RateLimitStyle = Literal["modern", "legacy-200", "legacy-int"]
Amounts = Mapping[str, str] | Callable[[str], str | None]

REDEEM_PATH: Final = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"
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
    is 0).
    """

    t: float
    uid: str
    endpoint: str
    ccy: str | None
    api_key: str
    status: int
    code: str


@attrs.frozen
class _Answer:
    """A canned HTTP answer plus the OKX code it carries, for the arrival log."""

    status: int
    code: str
    body: bytes
    content_type: str = "application/json"

    def response(self) -> web.Response:
        """A fresh response object (aiohttp responses are single-use)."""
        return web.Response(status=self.status, body=self.body, content_type=self.content_type)


def _okx(status: int, code: str, msg: str, data: list[dict[str, Any]] | None = None) -> _Answer:
    """An OKX-shaped JSON answer ``{"code", "msg", "data"}``."""
    payload = {"code": code, "msg": msg, "data": [] if data is None else data}
    return _Answer(status, code, json.dumps(payload, separators=(",", ":")).encode())


_NOT_FOUND = _okx(404, "50000", "Not found")
_BAD_CCY = _okx(400, "51000", "Parameter ccy error")

# Approximate where OKX's own table is vague: 50106 for an empty OK-ACCESS-SIGN and
# 50107 for an empty OK-ACCESS-TIMESTAMP follow the documented 50103-50107 range.
_MISSING_KEY = _okx(401, "50103", "Request header OK-ACCESS-KEY cannot be empty.")
_MISSING_PASSPHRASE = _okx(401, "50104", "Request header OK-ACCESS-PASSPHRASE cannot be empty.")
_MISSING_SIGN = _okx(401, "50106", "Request header OK-ACCESS-SIGN cannot be empty.")
_MISSING_TIMESTAMP = _okx(401, "50107", "Request header OK-ACCESS-TIMESTAMP cannot be empty.")
_UNKNOWN_KEY = _okx(401, "50111", "Invalid OK-ACCESS-KEY.")
_BAD_TIMESTAMP = _okx(401, "50112", "Invalid OK-ACCESS-TIMESTAMP.")
_EXPIRED = _okx(401, "50102", "Timestamp request expired.")
_BAD_PASSPHRASE = _okx(401, "50105", "Request header OK-ACCESS-PASSPHRASE incorrect.")
_WRONG_ENVIRONMENT = _okx(401, "50101", "APIKey does not match current environment.")
_BAD_SIGN = _okx(401, "50113", "Invalid Sign.")

_THROTTLED: Final[Mapping[str, _Answer]] = {
    # Today's answer has no "data" key at all, which trips clients that index it.
    "modern": _Answer(429, "50011", b'{"msg":"Too Many Requests","code":"50011"}'),
    "legacy-200": _okx(200, "50011", "Requests too frequent."),
    "legacy-int": _Answer(200, "50011", b'{"code":50011,"msg":"Requests too frequent.","data":[]}'),
}

_HTML_502 = _Answer(
    502,
    "",
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
    content_type="text/html",
)
_SERVER_ERROR = _okx(503, "50001", "Service temporarily unavailable")
_BUSY = _okx(429, "50013", "Systems are busy. Please try again later.")
_DROP = _Answer(0, "", b"")


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

    Endpoints: ``GET /api/v5/finance/flexible-loan/max-collateral-redeem-amount?ccy=X`` and
    ``GET /api/v5/account/config`` (private, limited to ``limit`` per ``window`` seconds
    per user ID and path) and ``GET /api/v5/public/time`` (public, 10 per 2 s per IP).
    ``rate_limit=False`` lifts every limit, the public one included.
    """

    def __init__(
        self,
        *,
        keys: Mapping[str, SimKey] = DEMO_KEYS,
        amounts: Amounts = DEFAULT_AMOUNTS,
        limit: int = 5,
        window: float = 2.0,
        rate_limit: bool = True,
        algorithm: AlgorithmName = "sliding-log",
        request_latency: tuple[float, float] = (0.0, 0.0),
        response_latency: tuple[float, float] = (0.0, 0.0),
        html_error_rate: float = 0.0,
        server_error_rate: float = 0.0,
        busy_rate: float = 0.0,
        drop_rate: float = 0.0,
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
        self._amount: Callable[[str], str | None] = (
            amounts.get if isinstance(amounts, Mapping) else amounts
        )
        self._limit = limit
        self._window = window
        self._rate_limit = rate_limit
        self._algorithm: AlgorithmName = algorithm
        self._request_latency = _check_latency("request_latency", request_latency)
        self._response_latency = _check_latency("response_latency", response_latency)
        # Checked in this order and the first that fires wins; zero rates are left out so
        # they draw no random numbers and a seeded run stays reproducible as options vary.
        self._faults = [
            (rate, answer)
            for rate, answer in (
                (_check_rate("drop_rate", drop_rate), _DROP),
                (_check_rate("html_error_rate", html_error_rate), _HTML_502),
                (_check_rate("server_error_rate", server_error_rate), _SERVER_ERROR),
                (_check_rate("busy_rate", busy_rate), _BUSY),
            )
            if rate > 0.0
        ]
        self._clock_skew = clock_skew
        self._throttled = _THROTTLED[rate_limit_style]
        self._rng = random.Random(seed)
        self._host = host
        self._port = port
        self._origin = time.monotonic()
        self._limiters: dict[tuple[str, str], RateLimitAlgorithm] = {}
        self._public_limiters: dict[str, SlidingLog] = {}
        self._runner: web.AppRunner | None = None
        self._routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            REDEEM_PATH: self._handle_redeem,
            CONFIG_PATH: self._handle_config,
            TIME_PATH: self._handle_time,
        }
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
        """Route by exact path; everything else is a JSON 404."""
        handler = self._routes.get(request.path) if request.method == "GET" else None
        if handler is None:
            return _NOT_FOUND.response()
        # The request spends this long on the network before the server sees it.
        await self._delay(self._request_latency)
        return await handler(request)

    async def _handle_redeem(self, request: web.Request) -> web.StreamResponse:
        """GET max-collateral-redeem-amount."""
        return await self._private(request, self._redeem_answer)

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
            answer = _okx(200, "0", "", [{"ts": str(int(self.wall_time() * 1000))}])
        await self._delay(self._response_latency)
        return answer.response()

    async def _private(
        self, request: web.Request, business: Callable[[web.Request, SimKey], _Answer]
    ) -> web.StreamResponse:
        """Authenticate, count, maybe fault, then answer; logs one Arrival."""
        authenticated = self._authenticate(request)
        if isinstance(authenticated, _Answer):
            return authenticated.response()
        api_key, key = authenticated
        path = request.path
        now = time.monotonic()
        if self._rate_limit and not self._limiter(key.uid, path).try_acquire(now):
            logger.debug("throttled uid %s on %s (api key %s)", key.uid, path, api_key)
            answer = self._throttled
        else:
            answer = self._fault() or business(request, key)
        ccy = request.query.get("ccy")
        self.arrivals.append(Arrival(now, key.uid, path, ccy, api_key, answer.status, answer.code))
        await self._delay(self._response_latency)
        if answer is _DROP:
            return _drop(request)
        return answer.response()

    def _authenticate(self, request: web.Request) -> tuple[str, SimKey] | _Answer:
        """Check the OKX v5 auth headers in OKX's order; the key, or the 401 to send."""
        headers = request.headers
        api_key = headers.get("OK-ACCESS-KEY", "")
        passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")
        signature = headers.get("OK-ACCESS-SIGN", "")
        timestamp = headers.get("OK-ACCESS-TIMESTAMP", "")
        key = self._keys.get(api_key)
        failure: _Answer | None = None
        if not api_key:
            failure = _MISSING_KEY
        elif not passphrase:
            failure = _MISSING_PASSPHRASE
        elif not signature:
            failure = _MISSING_SIGN
        elif not timestamp:
            failure = _MISSING_TIMESTAMP
        elif key is None:
            failure = _UNKNOWN_KEY
        elif (sent_at := timestamp_seconds(timestamp)) is None:
            failure = _BAD_TIMESTAMP
        elif abs(sent_at - self.wall_time()) > _MAX_CLOCK_DIFFERENCE:
            failure = _EXPIRED
        elif not hmac.compare_digest(_encode(passphrase), _encode(key.passphrase)):
            failure = _BAD_PASSPHRASE
        elif key.demo is not None and key.demo != (headers.get("x-simulated-trading") == "1"):
            failure = _WRONG_ENVIRONMENT
        else:
            expected = expected_signature(
                key.secret_key, timestamp, request.method, request.raw_path
            )
            if not hmac.compare_digest(_encode(expected), _encode(signature)):
                failure = _BAD_SIGN
        if failure is None and key is not None:  # key is None implies a failure above
            return api_key, key
        failure = failure or _UNKNOWN_KEY
        # The API key is an identifier, not a secret; the other headers stay out of the log.
        logger.debug("refused %s: %s (api key %r)", request.path, failure.code, api_key)
        return failure

    def _redeem_answer(self, request: web.Request, key: SimKey) -> _Answer:
        """The business answer of max-collateral-redeem-amount."""
        ccy = request.query.get("ccy", "")
        amount = self._amount(ccy) if ccy else None
        if amount is None:
            return _BAD_CCY
        return _okx(200, "0", "", [{"ccy": ccy, "maxRedeemAmt": amount}])

    def _fault(self) -> _Answer | None:
        """The injected fault for a counted request, if one fires."""
        for rate, answer in self._faults:
            if self._rng.random() < rate:
                return answer
        return None

    async def _delay(self, bounds: tuple[float, float]) -> None:
        """Sleep a uniform random time in ``bounds``; free when they are (0, 0)."""
        low, high = bounds
        if high > 0.0:
            await asyncio.sleep(self._rng.uniform(low, high))

    def _limiter(self, uid: str, path: str) -> RateLimitAlgorithm:
        """The limiter state of one (user ID, path) bucket."""
        bucket = self._limiters.get((uid, path))
        if bucket is None:
            bucket = make_algorithm(self._algorithm, self._limit, self._window, self._origin)
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


def _config_answer(request: web.Request, key: SimKey) -> _Answer:
    """The business answer of account/config for a read-only main-account key."""
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
        "perm": "read_only",
        "posMode": "net_mode",
        "roleType": "0",
        "spotOffsetType": "",
        "traderInsts": [],
        "type": "0",
    }
    return _okx(200, "0", "", [config])


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
            for credentials in (DEMO_CREDENTIALS, DEMO_CREDENTIALS_2):
                print(
                    f"  api key {credentials.api_key}  secret {credentials.secret_key}  "
                    f"passphrase {credentials.passphrase}"
                )
        else:
            print("API keys: " + ", ".join(sorted(sim._keys)))
        print("Press Ctrl+C to stop.", flush=True)
        await asyncio.Event().wait()
