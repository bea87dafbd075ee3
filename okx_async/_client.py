"""``OkxClient``: public method → endpoint spec → limiter → signer → transport → decoder."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from enum import StrEnum
from types import TracebackType
from typing import TypeVar
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from ._credentials import Credentials
from ._decode import decode_envelope
from ._endpoints import ACCOUNT_CONFIG, MAX_COLLATERAL_REDEEM_AMOUNT, PUBLIC_TIME, Endpoint
from ._errors import (
    RATE_LIMITED,
    TIMESTAMP_EXPIRED,
    OkxAPIError,
    OkxBatchError,
    OkxError,
    OkxParameterError,
    OkxTimeoutError,
)
from ._limiter import Limiter, LimitKey, Outcome, default_limiter
from ._models import MaxCollateralRedeemAmount
from ._retry import RetryPolicy
from ._signing import Signer, okx_timestamp
from ._transport import AiohttpTransport, Timeouts, Transport
from ._window import RateLimit

log = logging.getLogger(__name__)

T = TypeVar("T")

# Letters and digits, optionally joined by '.', '-' or '_' (as in "USDC.E"); no spaces,
# no URL syntax, so a code can go into the query unescaped and be signed as sent.
_CCY = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
_MAX_CCY_LEN = 32


class Region(StrEnum):
    """OKX's REST hosts; pass one as ``base_url``."""

    GLOBAL = "https://www.okx.com"
    EEA = "https://eea.okx.com"
    US = "https://us.okx.com"


def check_ccy(ccy: object) -> str:
    """Return ``ccy`` if it is a plausible OKX currency code; raise before any request."""
    if not isinstance(ccy, str):
        raise TypeError(f"ccy must be a str, not {type(ccy).__name__}")
    if not ccy:
        raise ValueError("ccy must not be empty")
    if len(ccy) > _MAX_CCY_LEN or not _CCY.fullmatch(ccy):
        raise ValueError(f"ccy {ccy!r:.40} is not an OKX currency code")
    return ccy


def limit_outcome(exc: OkxError) -> Outcome:
    """What an answer that failed with ``exc`` says about the server's rate limit.

    Only a parameter error (checked after the limit) shows the request got through.
    """
    if isinstance(exc, OkxAPIError) and exc.code == RATE_LIMITED:
        return Outcome.THROTTLED
    if isinstance(exc, OkxParameterError):
        return Outcome.ACCEPTED
    return Outcome.UNKNOWN


class OkxClient:
    """Async client for OKX v5 with a built-in per-user-id rate limiter.

    Example::

        async with OkxClient(Credentials.from_env()) as okx:
            one = await okx.max_collateral_redeem_amount("USDT")
            many = await okx.max_collateral_redeem_amounts(["USDT", "BTC", "ETH"])

    Clients share the process-wide limiter unless given one, so several clients whose
    keys belong to one user share that user's budget. ``user_id`` saves one request:
    without it the client asks ``/api/v5/account/config`` once.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str = Region.GLOBAL,
        demo: bool = False,
        user_id: str | None = None,
        limiter: Limiter | None = None,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        fanout_concurrency: int = 16,
        transport: Transport | None = None,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise TypeError("credentials must be an okx_async.Credentials")
        if fanout_concurrency < 1:
            raise ValueError("fanout_concurrency must be at least 1")
        self._base_url = str(base_url).rstrip("/")
        self._host = urlsplit(self._base_url).netloc
        if not self._host:
            raise ValueError(f"base_url {base_url!r} has no host")
        self._api_key = credentials.api_key
        self._signer = Signer(credentials.secret_key)
        self._static_headers = {
            "OK-ACCESS-KEY": credentials.api_key,
            "OK-ACCESS-PASSPHRASE": credentials.passphrase,
        }
        if demo:
            self._static_headers["x-simulated-trading"] = "1"
        self._user_id = user_id
        self._user_id_lock = asyncio.Lock()
        self._limiter: Limiter = limiter if limiter is not None else default_limiter()
        self._retry = retry if retry is not None else RetryPolicy()
        self._transport: Transport = (
            transport if transport is not None
            else AiohttpTransport(session, timeouts if timeouts is not None else Timeouts())
        )
        self._rate_limits = dict(rate_limits or {})
        self._fanout_concurrency = fanout_concurrency
        #: Seconds to add to the local clock so OKX accepts our timestamps.
        self._clock_offset = 0.0
        #: Counts clock measurements, so a burst of 50102s measures only once.
        self._clock_syncs = 0
        self._clock_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<OkxClient {self._base_url} api_key={self._api_key!r} user_id={self._user_id!r}>"

    async def __aenter__(self) -> OkxClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session if the client created it."""
        await self._transport.aclose()

    @property
    def user_id(self) -> str | None:
        """The OKX user id the budgets are counted by, once known."""
        return self._user_id

    # Public endpoints -------------------------------------------------------------

    async def max_collateral_redeem_amount(self, ccy: str) -> MaxCollateralRedeemAmount:
        """How much of collateral ``ccy`` can be redeemed now (Flexible Loan)."""
        return await self._request(MAX_COLLATERAL_REDEEM_AMOUNT, ccy=check_ccy(ccy))

    async def max_collateral_redeem_amounts(
        self,
        ccys: Iterable[str],
        *,
        on_result: Callable[[str, MaxCollateralRedeemAmount | Exception], None] | None = None,
    ) -> dict[str, MaxCollateralRedeemAmount]:
        """Query many currencies at once; the limiter queues them within the rule.

        Keys come back in the caller's order, each currency queried once. If any
        fails, :class:`OkxBatchError` carries every success in ``.results`` and every
        failure in ``.errors``. ``on_result`` is called as each currency completes.
        """
        if isinstance(ccys, (str, bytes)):
            raise TypeError("ccys must be an iterable of currency codes, not a single string")
        unique = list(dict.fromkeys(check_ccy(ccy) for ccy in ccys))
        return await self._fan_out(self.max_collateral_redeem_amount, unique, on_result)

    async def sync_clock(self) -> float:
        """Measure the local clock's offset from OKX's and sign with OKX's time from now on."""
        async with self._clock_lock:
            return await self._measure_clock()

    async def _resync_clock_after(self, syncs_seen: int) -> None:
        """Measure the clock unless another request already did since ``syncs_seen``."""
        async with self._clock_lock:
            if self._clock_syncs == syncs_seen:
                await self._measure_clock()

    async def _measure_clock(self) -> float:
        sent = time.time()
        server = await self._request(PUBLIC_TIME)
        received = time.time()
        self._clock_offset = server.ts_ms / 1000 - (sent + received) / 2
        self._clock_syncs += 1
        log.warning("signing with OKX's clock: the local clock is %.3f s off", self._clock_offset)
        return self._clock_offset

    # The flow --------------------------------------------------------------------

    async def _fan_out(
        self,
        call: Callable[[str], Awaitable[T]],
        items: list[str],
        on_result: Callable[[str, T | Exception], None] | None,
    ) -> dict[str, T]:
        """Run ``call`` over ``items`` with a few workers; never lose a result.

        A fixed pool of workers, not a task per item, keeps memory flat for huge
        fan-outs; the limiter decides the pace either way.
        """
        results: dict[str, T] = {}
        errors: dict[str, Exception] = {}
        pending = iter(items)

        async def worker() -> None:
            for item in pending:
                outcome: T | Exception
                try:
                    outcome = results[item] = await call(item)
                except Exception as exc:  # one currency's failure must not sink the rest
                    outcome = errors[item] = exc
                if on_result is not None:
                    on_result(item, outcome)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(len(items), self._fanout_concurrency)):
                group.create_task(worker())
        ordered = {item: results[item] for item in items if item in results}
        if errors:
            raise OkxBatchError(ordered, {item: errors[item] for item in items if item in errors})
        return ordered

    async def _limit_key(self, endpoint: Endpoint[T]) -> LimitKey:
        if not endpoint.per_user:
            return LimitKey(f"ip:{self._host}", endpoint.path)
        return LimitKey(await self._resolve_user_id(), endpoint.path)

    async def _resolve_user_id(self) -> str:
        if self._user_id is not None:
            return self._user_id
        async with self._user_id_lock:
            if self._user_id is None:
                # Until the uid is known the key stands in for it: one call per key.
                key = LimitKey(f"key:{self._api_key}", ACCOUNT_CONFIG.path)
                config = await self._send(ACCOUNT_CONFIG, ACCOUNT_CONFIG.path, key)
                self._user_id = config.uid
                log.debug("API key %s belongs to user %s", self._api_key, config.uid)
            return self._user_id

    async def _request(self, endpoint: Endpoint[T], **params: str) -> T:
        # Built once here, exactly as it goes on the wire, because that is what is signed.
        query = urlencode(params, quote_via=quote)
        path = f"{endpoint.path}?{query}" if query else endpoint.path
        return await self._send(endpoint, path, await self._limit_key(endpoint))

    async def _send(self, endpoint: Endpoint[T], path: str, key: LimitKey) -> T:
        deadline = self._retry.deadline
        failures: list[OkxError] = []
        if deadline is None:
            return await self._attempts(endpoint, path, key, failures)
        try:
            async with asyncio.timeout(deadline):
                return await self._attempts(endpoint, path, key, failures)
        except TimeoutError:
            error = OkxTimeoutError(f"no result for {path} within the {deadline}s deadline")
            error.attempts = len(failures)
            raise error from (failures[-1] if failures else None)

    async def _attempts(
        self, endpoint: Endpoint[T], path: str, key: LimitKey, failures: list[OkxError]
    ) -> T:
        rule = self._rate_limits.get(endpoint.path, endpoint.rule)
        url = self._base_url + path
        resynced = False
        while True:
            syncs_seen = self._clock_syncs
            try:
                permit = self._limiter.slot(key, rule)
                async with permit:
                    headers = self._headers(endpoint, path)
                    status, body = await self._transport.get(url, headers)
                    # Decoded inside the slot, so the limiter learns how it went.
                    try:
                        result = endpoint.result(decode_envelope(status, body))
                    except OkxError as exc:
                        permit.finish(limit_outcome(exc))
                        raise
                    permit.finish(Outcome.ACCEPTED)
                    return result
            except OkxError as exc:
                if failures:
                    exc.__cause__ = exc.__cause__ or failures[-1]
                failures.append(exc)
                exc.attempts = attempt = len(failures)
                if isinstance(exc, OkxAPIError):
                    if exc.code == RATE_LIMITED:
                        log.warning("OKX answered 50011 for %s; retrying through the limiter", path)
                    elif exc.code == TIMESTAMP_EXPIRED and endpoint.private and not resynced:
                        # Retried once, outside the retry budget: it is our clock, not OKX.
                        resynced = True
                        await self._resync_clock_after(syncs_seen)
                        continue
                delay = self._retry.delay(exc, attempt)
                if delay is None:
                    raise
                log.info("%s failed (%s); attempt %d in %.2fs", path, exc, attempt + 1, delay)
                if delay:
                    await asyncio.sleep(delay)

    def _headers(self, endpoint: Endpoint[T], path: str) -> dict[str, str]:
        if not endpoint.private:
            return {}
        timestamp = okx_timestamp(time.time() + self._clock_offset)
        headers = self._static_headers.copy()
        headers["OK-ACCESS-TIMESTAMP"] = timestamp
        headers["OK-ACCESS-SIGN"] = self._signer.sign(timestamp, endpoint.method, path)
        return headers
