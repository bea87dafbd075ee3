"""``OkxClient``: public method → endpoint spec → limiter → signer → transport → decoder."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from types import TracebackType
from typing import TypeVar
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from ._credentials import Credentials
from ._decode import decode_envelope
from ._endpoints import ACCOUNT_CONFIG, PUBLIC_TIME, Endpoint
from ._errors import (
    RATE_LIMITED,
    TIMESTAMP_EXPIRED,
    OkxAPIError,
    OkxBatchError,
    OkxConnectError,
    OkxError,
    OkxParameterError,
    OkxTimeoutError,
    OkxUnknownOutcomeError,
    SentRequest,
    may_have_executed,
)
from ._family import FlexibleLoanMethods
from ._limiter import Limiter, LimitKey, Outcome, default_limiter
from ._params import check_ccy, wire_params
from ._retry import RetryPolicy
from ._signing import Signer, json_body, okx_timestamp
from ._transport import AiohttpTransport, Timeouts, Transport
from ._window import RateLimit

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["OkxClient", "Region", "check_ccy", "limit_outcome"]


class Region(StrEnum):
    """OKX's REST hosts; pass one as ``base_url``."""

    GLOBAL = "https://www.okx.com"
    EEA = "https://eea.okx.com"
    US = "https://us.okx.com"


def limit_outcome(exc: OkxError) -> Outcome:
    """What an answer that failed with ``exc`` says about the server's rate limit.

    Only a parameter error (checked after the limit) shows the request got through.
    """
    if isinstance(exc, OkxAPIError) and exc.code == RATE_LIMITED:
        return Outcome.THROTTLED
    if isinstance(exc, OkxParameterError):
        return Outcome.ACCEPTED
    return Outcome.UNKNOWN


class _CallState:
    """What one call has been through: its failed attempts, and whether one is in flight."""

    __slots__ = ("failures", "sending")

    def __init__(self) -> None:
        self.failures: list[OkxError] = []
        self.sending = False


class OkxClient(FlexibleLoanMethods):
    """Async client for OKX v5 with a built-in per-user-id rate limiter.

    Example::

        async with OkxClient(Credentials.from_env()) as okx:
            one = await okx.max_collateral_redeem_amount("USDT")
            many = await okx.max_collateral_redeem_amounts(["USDT", "BTC", "ETH"])
            everything = await okx.max_collateral_redeem_amounts()  # all my collateral
            info = await okx.loan_info()

    The Flexible Loan methods are listed on :class:`FlexibleLoanMethods`.

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

    # Public endpoints: the Flexible Loan family is in _family.py ----------------------

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
        server = await self._call(PUBLIC_TIME)
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

    async def _call(self, endpoint: Endpoint[T], **args: object) -> T:
        """Check the arguments, then send: a GET's as the query, a POST's as JSON."""
        wire = wire_params(endpoint.params, args)  # raises before any request
        # Built once here, exactly as it goes on the wire, because that is what is signed.
        body = b""
        if endpoint.method == "GET":
            query = urlencode(wire, quote_via=quote)
            path = f"{endpoint.path}?{query}" if query else endpoint.path
        else:
            path, body = endpoint.path, json_body(wire)
        return await self._send(endpoint, path, await self._limit_key(endpoint), body)

    async def _send(
        self, endpoint: Endpoint[T], path: str, key: LimitKey, body: bytes = b""
    ) -> T:
        deadline = self._retry.deadline
        state = _CallState()
        if deadline is None:
            return await self._attempts(endpoint, path, key, body, state)
        failures = state.failures
        try:
            async with asyncio.timeout(deadline):
                return await self._attempts(endpoint, path, key, body, state)
        except TimeoutError:
            error: OkxError = OkxTimeoutError(
                f"no result for {path} within the {deadline}s deadline"
            )
            error.attempts = len(failures) + int(state.sending)
            if not endpoint.idempotent and state.sending:
                cause, error = error, OkxUnknownOutcomeError(
                    SentRequest(endpoint.method, path, body)
                )
                error.attempts = cause.attempts
                raise error from cause
            raise error from (failures[-1] if failures else None)

    async def _attempts(
        self,
        endpoint: Endpoint[T],
        path: str,
        key: LimitKey,
        body: bytes,
        state: _CallState,
    ) -> T:
        failures = state.failures
        rule = self._rate_limits.get(endpoint.path, endpoint.rule)
        url = self._base_url + path
        resynced = False
        while True:
            syncs_seen = self._clock_syncs
            try:
                permit = self._limiter.slot(key, rule)
                async with permit:
                    headers = self._headers(endpoint, path, body)
                    state.sending = True
                    try:
                        status, answer = await self._transport.request(
                            endpoint.method, url, headers, body
                        )
                    finally:
                        state.sending = False
                    # Decoded inside the slot, so the limiter learns how it went.
                    try:
                        result = endpoint.result(decode_envelope(status, answer))
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
                if not endpoint.idempotent:
                    self._refuse_resend(endpoint, path, body, exc)
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

    @staticmethod
    def _refuse_resend(endpoint: Endpoint[T], path: str, body: bytes, exc: OkxError) -> None:
        """For a write, raise unless ``exc`` proves it never executed and may be resent.

        Resent: a connection that never opened, a 50011 and a 50102 (OKX checks both
        before executing). Any other definite answer goes to the caller as it is.
        """
        if may_have_executed(exc):
            error = OkxUnknownOutcomeError(SentRequest(endpoint.method, path, body))
            error.attempts = exc.attempts
            log.warning("%s %s failed after it may have executed (%s); not resent",
                        endpoint.method, path, exc)
            raise error from exc
        resendable = isinstance(exc, OkxConnectError) or (
            isinstance(exc, OkxAPIError) and exc.code in (RATE_LIMITED, TIMESTAMP_EXPIRED)
        )
        if not resendable:
            raise exc

    def _headers(self, endpoint: Endpoint[T], path: str, body: bytes = b"") -> dict[str, str]:
        if not endpoint.private:
            return {}
        timestamp = okx_timestamp(time.time() + self._clock_offset)
        headers = self._static_headers.copy()
        headers["OK-ACCESS-TIMESTAMP"] = timestamp
        headers["OK-ACCESS-SIGN"] = self._signer.sign(timestamp, endpoint.method, path, body)
        if endpoint.method != "GET":
            headers["Content-Type"] = "application/json"
        return headers
