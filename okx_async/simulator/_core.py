"""The simulator's OKX logic, apart from how requests reach it.

One request, whichever way it came in (loopback HTTP or in-process), walks one path:
route -> request latency -> authenticate -> count against the rate limit -> maybe a
fault -> the business answer -> one :class:`Arrival` logged -> response latency.
It checks signatures and enforces the per-(user ID, endpoint) rate limit the way
OKX does, so a client bug shows up as a failed request rather than passing unnoticed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Final

from multidict import MultiDictProxy
from yarl import URL

from . import _answers as answers
from ._account import DEFAULT_LOANS, LoanAccount, RefIds
from ._algorithms import AlgorithmName, RateLimitAlgorithm, SlidingLog, make_algorithm
from ._answers import Answer
from ._clock import SimClock
from ._demo import DEFAULT_AMOUNTS, DEMO_KEYS, SimKey
from ._gate import authenticate
from ._loan import REDEEM_PATH, ROUTES, Call, Handler
from ._loan import answer as loan_answer
from ._options import Amounts, RateLimitStyle, check_latency, check_rate, check_rule
from ._request import Arrival, Incoming

logger = logging.getLogger(__name__)

#: An endpoint's handler: the request and its parsed URL in, the answer out.
Route = Callable[[Incoming, URL], Awaitable[Answer]]

CONFIG_PATH: Final = "/api/v5/account/config"
TIME_PATH: Final = "/api/v5/public/time"

#: OKX's rule for /public/time: 10 per 2 s per IP, whatever ``limit`` and ``window`` say.
_PUBLIC_LIMIT: Final = 10
_PUBLIC_WINDOW: Final = 2.0
#: Past this many per-IP limiters, idle ones are dropped, so a long-running standalone
#: server does not keep one for every address that ever called it.
_MAX_IDLE_BUCKETS: Final = 1024


class SimulatorCore:
    """The OKX look-alike itself: :meth:`handle` answers one :class:`Incoming` request.

    The options are :class:`~okx_async.simulator.Simulator`'s (see there). The
    fronts that bring requests in (loopback HTTP, in-process) only translate.
    """

    def __init__(
        self,
        *,
        keys: Mapping[str, SimKey] = DEMO_KEYS,
        amounts: Amounts = DEFAULT_AMOUNTS,
        loans: Mapping[str, str] | None = None,
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
        fault_endpoints: Collection[str] | None = None,
        clock_skew: float = 0.0,
        rate_limit_style: RateLimitStyle = "modern",
        seed: int | None = None,
    ) -> None:
        check_rule(limit, window, algorithm, rate_limit_style)
        self._keys = keys
        #: Canned max-redeem answers, when ``amounts`` is a callable.
        self._canned: Callable[[str], str | None] | None = (
            None if isinstance(amounts, Mapping) else amounts
        )
        self._collateral: Mapping[str, str] = amounts if isinstance(amounts, Mapping) else {}
        if loans is None:
            loans = DEFAULT_LOANS if amounts is DEFAULT_AMOUNTS else {}
        self._loans = loans
        self._ref_ids = RefIds()
        #: Each user's Flexible Loan account, created at the user's first request.
        self.accounts: dict[str, LoanAccount] = {}
        self._limit = limit
        self._window = window
        self._rate_limit = rate_limit
        self._algorithm: AlgorithmName = algorithm
        self._request_latency = check_latency("request_latency", request_latency)
        self._response_latency = check_latency("response_latency", response_latency)
        # Checked in this order and the first that fires wins; zero rates are left out so
        # they draw no random numbers and a seeded run stays reproducible as options vary.
        self._faults = [
            (rate, answer)
            for rate, answer in (
                (check_rate("drop_rate", drop_rate), answers.DROP),
                (check_rate("html_error_rate", html_error_rate), answers.HTML_502),
                (check_rate("server_error_rate", server_error_rate), answers.SERVER_ERROR),
                (check_rate("busy_rate", busy_rate), answers.BUSY),
            )
            if rate > 0.0
        ]
        #: The paths faults may hit; None for every one.
        self._fault_endpoints = None if fault_endpoints is None else frozenset(fault_endpoints)
        self._clock = SimClock(clock_skew)
        self._throttled = answers.THROTTLED[rate_limit_style]
        self._rng = random.Random(seed)
        self._limiters: dict[tuple[str, str], RateLimitAlgorithm] = {}
        self._public_limiters: dict[str, SlidingLog] = {}
        self._routes: dict[tuple[str, str], Route] = {
            ("GET", CONFIG_PATH): self._config,
            ("GET", TIME_PATH): self._public_time,
        }
        for route, handler in ROUTES.items():
            self._routes[route] = self._loan(handler)
        #: Every authenticated request to a rate-limited endpoint, in arrival order.
        self.arrivals: list[Arrival] = []

    # -- inspection --------------------------------------------------------------------

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
        """The server's Unix time in seconds, including ``clock_skew``.

        It advances with the event loop's clock, so on virtual time it is virtual too.
        """
        return self._clock.wall()

    def account(self, uid: str) -> LoanAccount:
        """The Flexible Loan account of ``uid``, created from the seed at first use."""
        account = self.accounts.get(uid)
        if account is None:
            now_ms = int(self.wall_time() * 1000)
            account = LoanAccount(self._collateral, self._loans, self._ref_ids, now_ms)
            self.accounts[uid] = account
        return account

    # -- the request flow --------------------------------------------------------------

    async def handle(self, request: Incoming) -> Answer:
        """Answer one request; :data:`answers.DROP` means: close without a byte back."""
        url = request.url
        route = self._routes.get((request.method, url.path))
        if route is None:
            return answers.NOT_FOUND
        # The request spends this long on the network before the server sees it.
        await self._delay(self._request_latency)
        return await route(request, url)

    async def _private(
        self, request: Incoming, url: URL, business: Callable[[Call], Answer]
    ) -> Answer:
        """Authenticate, count, maybe fault, then answer; logs one Arrival."""
        authenticated = authenticate(request, self._keys, self._clock.signing())
        if isinstance(authenticated, Answer):
            return authenticated
        api_key, key = authenticated
        path = url.path
        now = self._clock.now()
        body = _json_body(request)
        if self._rate_limit and not self._limiter(key.uid, path).try_acquire(now):
            logger.debug("throttled uid %s on %s (api key %s)", key.uid, path, api_key)
            answer = self._throttled
        elif isinstance(body, Answer):
            answer = body
        else:
            hit = self._fault_endpoints is None or path in self._fault_endpoints
            fault = self._fault() if hit else None
            answer = fault or answers.DROP
            if fault is None or fault in _AFTER_EXECUTION:
                call = Call(key, url.query, body, int(self.wall_time() * 1000))
                executed = business(call)
                answer = fault or executed
        self.arrivals.append(Arrival(
            now, key.uid, path, _ccy(url.query, body), api_key, answer.status, answer.code,
            request.method, request.body,
        ))
        await self._delay(self._response_latency)
        return answer

    def _loan(self, handler: Handler) -> Route:
        """The route of one Flexible Loan endpoint, answered from the caller's account."""

        def business(call: Call) -> Answer:
            if handler is ROUTES["GET", REDEEM_PATH] and self._canned is not None:
                return self._canned_redeem(call)
            return loan_answer(handler, call, self.account(call.key.uid))

        async def route(request: Incoming, url: URL) -> Answer:
            return await self._private(request, url, business)

        return route

    async def _config(self, request: Incoming, url: URL) -> Answer:
        """GET account/config."""
        return await self._private(request, url, _config_answer)

    async def _public_time(self, request: Incoming, url: URL) -> Answer:
        """GET public/time, limited per client IP; it tells the clock signatures are checked by."""
        now = self._clock.now()
        if self._rate_limit and not self._public_limiter(request.remote, now).try_acquire(now):
            logger.debug("throttled %s from %s", TIME_PATH, request.remote)
            answer = self._throttled
        else:
            answer = answers.ok([{"ts": str(int(self._clock.signing() * 1000))}])
        await self._delay(self._response_latency)
        return answer

    def _canned_redeem(self, call: Call) -> Answer:
        """max-collateral-redeem-amount from a callable ``amounts``, outside the account."""
        assert self._canned is not None
        ccy = call.query.get("ccy", "")
        amount = self._canned(ccy) if ccy else None
        if amount is None:
            return answers.BAD_CCY
        return answers.ok([{"ccy": ccy, "maxRedeemAmt": amount}])

    def _fault(self) -> Answer | None:
        """The injected fault for a counted request, if one fires."""
        for rate, answer in self._faults:
            if self._rng.random() < rate:
                return answer
        return None

    async def _delay(self, bounds: tuple[float, float]) -> None:
        """Sleep a uniform random time in ``bounds`` (on the loop's clock); free at (0, 0)."""
        low, high = bounds
        if high > 0.0:
            await asyncio.sleep(self._rng.uniform(low, high))

    def _limiter(self, uid: str, path: str) -> RateLimitAlgorithm:
        """The limiter state of one (user ID, path) bucket."""
        bucket = self._limiters.get((uid, path))
        if bucket is None:
            bucket = make_algorithm(
                self._algorithm, self._limit, self._window, self._clock.origin()
            )
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


#: Faults that strike on the way back, after the request was executed.
_AFTER_EXECUTION: Final = (answers.DROP, answers.HTML_502)


def _json_body(request: Incoming) -> Mapping[str, Any] | Answer:
    """A POST's JSON object body ({} for a GET), or OKX's answer to a malformed one."""
    if request.method != "POST":
        return {}
    content_type = request.headers.get("Content-Type", "").partition(";")[0]
    if content_type.strip().lower() != "application/json":
        return answers.BAD_JSON
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        return answers.BAD_JSON
    return body if isinstance(body, dict) else answers.BAD_JSON


def _ccy(query: MultiDictProxy[str], body: Mapping[str, Any] | Answer) -> str | None:
    """The currency a request names, for the arrival log."""
    ccy = query.get("ccy")
    if ccy is None and isinstance(body, Mapping):
        named = body.get("collateralCcy", body.get("borrowCcy"))
        ccy = named if isinstance(named, str) else None
    return ccy
