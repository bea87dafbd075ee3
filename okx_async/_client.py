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
    OkxClientClosedError,
    OkxConnectError,
    OkxError,
    OkxParameterError,
    OkxTimeoutError,
    OkxUnknownOutcomeError,
    SentRequest,
    may_have_executed,
)
from ._family import FlexibleLoanMethods
from ._limiter import Limiter, LimitKey, Outcome, Permit, default_limiter
from ._params import check_ccy, wire_params
from ._retry import RetryPolicy
from ._signing import Signer, json_body, okx_timestamp
from ._transport import AiohttpTransport, Timeouts, Transport
from ._window import DEFAULT_MARGIN, RateLimit

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["OkxClient", "Region", "check_ccy", "limit_outcome"]

#: uids already looked up, by (base url, API key, demo): one lookup per key per process.
_known_uids: dict[tuple[str, str, bool], str] = {}
#: The lock of each lookup under way, with the loop it belongs to.
_lookup_locks: dict[tuple[str, str, bool], tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}


def _lookup_lock(key: tuple[str, str, bool]) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    entry = _lookup_locks.get(key)
    if entry is None or entry[0] is not loop:
        entry = _lookup_locks[key] = (loop, asyncio.Lock())
    return entry[1]


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


class _Queued:
    """``async with permit`` whose wait for the slot :meth:`OkxClient.aclose` can end."""

    __slots__ = ("_client", "_permit")

    def __init__(self, client: OkxClient, permit: Permit) -> None:
        self._client = client
        self._permit = permit

    async def __aenter__(self) -> None:
        await self._client._waiting_for(self._permit.__aenter__())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._permit.__aexit__(exc_type, exc, tb)


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
    without it the first client of each API key asks ``/api/v5/account/config`` once
    per process, and every client of that key reuses the answer.

    A ``session`` passed in stays the caller's; its own settings (``raise_for_status``,
    ``base_url``, timeouts) do not change how the client's requests are sent, and its
    middlewares still run (see ``docs/errors.md``).
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
        self._uid_cache_key = (self._base_url, self._api_key, demo)
        self._limiter: Limiter = limiter if limiter is not None else default_limiter()
        self._retry = retry if retry is not None else RetryPolicy()
        #: How long after its grant a request may still reach OKX, for the limiter.
        self._lifetime: float | None = (
            (timeouts or Timeouts()).total if transport is None
            else timeouts.total if timeouts is not None else None
        )
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
        self._closed = False
        #: Tasks of this client waiting (for a slot, a backoff, a lookup); aclose() ends them.
        self._waiting: set[asyncio.Task[object]] = set()
        #: Those that aclose() cancelled, so their CancelledError becomes a closed error.
        self._closed_out: set[asyncio.Task[object]] = set()

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
        """Close the client: nothing more is sent.

        Calls still queued for a slot (or backing off) end at once with
        :class:`OkxClientClosedError` without taking a slot; requests in flight end as
        the session's closing makes them. The HTTP session is closed only if the
        client created it.
        """
        self._closed = True
        for task in self._waiting:
            if not task.done():
                task.cancel()
                self._closed_out.add(task)
        self._waiting.clear()
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
        callback_errors: dict[str, Exception] = {}
        pending = iter(items)

        async def worker() -> None:
            for item in pending:
                outcome: T | Exception
                try:
                    outcome = results[item] = await call(item)
                except Exception as exc:  # one currency's failure must not sink the rest
                    outcome = errors[item] = exc
                if on_result is not None:
                    try:
                        on_result(item, outcome)
                    except Exception as exc:  # the caller's bug must not lose the results
                        callback_errors[item] = exc

        async with asyncio.TaskGroup() as group:
            for _ in range(min(len(items), self._fanout_concurrency)):
                group.create_task(worker())
        ordered = {item: results[item] for item in items if item in results}
        if errors or callback_errors:
            raise OkxBatchError(
                ordered, {item: errors[item] for item in items if item in errors},
                callback_errors={i: callback_errors[i] for i in items if i in callback_errors},
            )
        return ordered

    async def _waiting_for(self, awaitable: Awaitable[T]) -> T:
        """Await something that only waits, such as a slot; aclose() ends it at once."""
        task = asyncio.current_task()
        assert task is not None
        self._waiting.add(task)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task not in self._closed_out or task.uncancel() > 0:
                raise
        finally:
            self._waiting.discard(task)
            self._closed_out.discard(task)
        # Out of the except block, so no CancelledError is chained to it.
        raise OkxClientClosedError("the client was closed while the call waited")

    async def _limit_key(self, endpoint: Endpoint[T], failures: list[OkxError],
                         deadline_at: float | None) -> LimitKey:
        if not endpoint.per_user:
            return LimitKey(f"ip:{self._host}", endpoint.path)
        return LimitKey(await self._resolve_user_id(failures, deadline_at), endpoint.path)

    async def _resolve_user_id(self, failures: list[OkxError], deadline_at: float | None) -> str:
        if self._user_id is not None:
            return self._user_id
        cache_key = self._uid_cache_key
        uid = _known_uids.get(cache_key)
        if uid is None:
            lock = _lookup_lock(cache_key)
            await self._waiting_for(lock.acquire())
            try:
                uid = _known_uids.get(cache_key)
                if uid is None:
                    # The uid is not known yet, so neither is the user's budget: every
                    # lookup on this host shares one budget under the endpoint's rule.
                    key = LimitKey(f"uid-lookup:{self._host}", ACCOUNT_CONFIG.path)
                    config = await self._attempts(
                        ACCOUNT_CONFIG, ACCOUNT_CONFIG.path, key, failures, deadline_at
                    )
                    uid = _known_uids[cache_key] = config.uid
                    log.debug("API key %s belongs to user %s", self._api_key, uid)
            finally:
                lock.release()
        self._user_id = uid
        return uid

    async def _call(self, endpoint: Endpoint[T], **args: object) -> T:
        """Check the arguments, then send: a GET's as the query, a POST's as JSON."""
        wire = wire_params(endpoint.params, args)  # raises before any request
        if self._closed:
            raise OkxClientClosedError("the client is closed")
        # Built once here, exactly as it goes on the wire, because that is what is signed.
        body = b""
        if endpoint.method == "GET":
            query = urlencode(wire, quote_via=quote)
            path = f"{endpoint.path}?{query}" if query else endpoint.path
        else:
            path, body = endpoint.path, json_body(wire)
        failures: list[OkxError] = []
        deadline = self._retry.deadline
        if deadline is None:
            key = await self._limit_key(endpoint, failures, None)
            return await self._attempts(endpoint, path, key, failures, None, body=body)
        deadline_at = asyncio.get_running_loop().time() + deadline
        try:
            # The uid lookup too: the deadline bounds the whole call.
            async with asyncio.timeout_at(deadline_at):
                key = await self._limit_key(endpoint, failures, deadline_at)
                return await self._attempts(endpoint, path, key, failures, deadline_at, body=body)
        except TimeoutError:
            pass
        error = OkxTimeoutError(f"no result for {path} within the {deadline}s deadline")
        error.attempts = len(failures)
        if failures and isinstance(failures[-1], OkxUnknownOutcomeError):
            # The deadline struck while a write was in flight: it may have executed.
            raise failures[-1] from error
        raise error from (failures[-1] if failures else None)

    def _lifetime_at(self, deadline_at: float | None) -> float | None:
        """How long a request granted now may still reach OKX: its timeout, or the deadline."""
        if deadline_at is None:
            return self._lifetime
        left = max(0.0, deadline_at - asyncio.get_running_loop().time())
        return left if self._lifetime is None else min(self._lifetime, left)

    async def _attempts(
        self, endpoint: Endpoint[T], path: str, key: LimitKey, failures: list[OkxError],
        deadline_at: float | None, *, body: bytes = b"",
    ) -> T:
        rule = self._rate_limits.get(endpoint.path, endpoint.rule)
        url = self._base_url + path
        lookup = key.user_id.startswith("uid-lookup:")
        resynced = False
        #: Attempts that count against the retry budget (the 50102 retry does not).
        attempt = 0
        while True:
            if self._closed:
                raise OkxClientClosedError("the client is closed")
            syncs_seen = self._clock_syncs
            try:
                permit = self._limiter.slot(key, rule, lifetime=self._lifetime_at(deadline_at))
                return await self._in_slot(
                    permit, endpoint, url, path, quiet=lookup, body=body, failures=failures
                )
            except OkxError as exc:
                if isinstance(exc, OkxClientClosedError):
                    raise
                if failures and exc.__cause__ is None:
                    exc.__cause__ = failures[-1]
                failures.append(exc)
                exc.attempts = len(failures)
                if not endpoint.idempotent:
                    self._refuse_resend(endpoint, path, body, exc)
                attempt += 1
                delay = self._retry.delay(exc, attempt)
                if isinstance(exc, OkxAPIError):
                    if exc.code == RATE_LIMITED and lookup:
                        # Expected when other programs look up too: wait out a window.
                        log.debug("OKX answered 50011 to the uid lookup; retrying")
                        if delay is not None:
                            delay = rule.window + DEFAULT_MARGIN
                    elif exc.code == RATE_LIMITED:
                        log.warning("OKX answered 50011 for %s; retrying through the limiter", path)
                    elif exc.code == TIMESTAMP_EXPIRED and endpoint.private and not resynced:
                        # Retried once, outside the retry budget: it is our clock, not OKX.
                        resynced = True
                        attempt -= 1
                        sync_failure = await self._resync_clock_quietly(syncs_seen)
                        if sync_failure is None:
                            continue
                        exc.add_note(f"measuring OKX's clock failed too: {sync_failure}")
                if delay is None:
                    raise
                log.info("%s failed (%s); attempt %d in %.2fs", path, exc, attempt + 1, delay)
                if delay:
                    await self._waiting_for(asyncio.sleep(delay))

    async def _resync_clock_quietly(self, syncs_seen: int) -> str | None:
        """Measure the clock; a failure is returned, so the original error stays the one raised."""
        try:
            await self._resync_clock_after(syncs_seen)
        except OkxClientClosedError:
            raise
        except OkxError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    async def _in_slot(
        self, permit: Permit, endpoint: Endpoint[T], url: str, path: str, *, quiet: bool,
        body: bytes, failures: list[OkxError],
    ) -> T:
        """Wait for a slot, send ``body`` within it and tell the limiter how it ended.

        ``quiet``: a 50011 is expected here (the uid lookup, before the user's budget is
        known), so it neither pauses the budget nor switches it to pacing; the caller
        waits out a window before it tries again. A write cancelled in flight is noted in
        ``failures`` as an unknown outcome.
        """
        async with _Queued(self, permit):
            headers = self._headers(endpoint, path, body)
            try:
                status, answer = await self._transport.request(
                    endpoint.method, url, headers, body
                )
            except OkxError:
                # No answer; it may have reached OKX until now, but no later.
                permit.finish(Outcome.UNKNOWN)
                raise
            except asyncio.CancelledError:
                if not endpoint.idempotent:
                    # Cancelled in flight (the deadline, or the caller): it may have executed.
                    unknown = OkxUnknownOutcomeError(SentRequest(endpoint.method, path, body))
                    failures.append(unknown)
                    unknown.attempts = len(failures)
                raise
            # Decoded inside the slot, so the limiter learns how it went.
            try:
                result = endpoint.result(decode_envelope(status, answer))
            except OkxError as exc:
                outcome = limit_outcome(exc)
                permit.finish(Outcome.UNKNOWN if quiet and outcome is Outcome.THROTTLED
                              else outcome)
                raise
            permit.finish(Outcome.ACCEPTED)
            return result

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
