"""One call, start to end: who is asking, the request value, then attempts until a decision.

``Pipeline.call(endpoint, wire)`` reads top to bottom:

1. the limit key: the user id, looked up once per API key (a request of its own,
   made before this one);
2. the :class:`~okx_async._request.Request`, built once;
3. attempts through the :class:`~okx_async._sender.Sender`, each failure turned into
   the next step by the policy (``_policy.decide``): wait and retry, measure the
   clock and retry, raise, or raise an unknown outcome.

The call's deadline, if any, bounds all of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from ._clock import ServerClock
from ._closing import Closer
from ._endpoints import ACCOUNT_CONFIG, PUBLIC_TIME, Endpoint
from ._errors import (
    OkxClientClosedError,
    OkxError,
    OkxTimeoutError,
    OkxUnknownOutcomeError,
    SentRequest,
)
from ._limiter import LimitKey
from ._models import ServerTime
from ._policy import Act, Failure, classify, decide
from ._progress import CallState, Tries
from ._request import Kind, Request, build
from ._retry import Retrying, RetryPolicy
from ._sender import Attempt, Data, Sender, TooLate
from ._uid import UidDirectory, UidKey
from ._window import RateLimit

log = logging.getLogger(__name__)

T = TypeVar("T")


class Pipeline:
    """Turns a checked call into typed results, one request at a time."""

    def __init__(
        self,
        *,
        host: str,
        sender: Sender,
        closer: Closer,
        clock: ServerClock,
        retry: RetryPolicy,
        lifetime: float | None,
        rate_limits: Mapping[str, RateLimit],
        uids: UidDirectory,
        uid_key: UidKey,
        user_id: str | None,
    ) -> None:
        self._host = host
        self._sender = sender
        self._closer = closer
        self.clock = clock
        self._retry = retry
        #: How long after its grant a request may still reach OKX: its timeout.
        self._lifetime = lifetime
        self._rate_limits = dict(rate_limits)
        self._uids = uids
        self._uid_key = uid_key
        self.user_id = user_id if user_id is not None else uids.known(uid_key)
        #: The limit key of each endpoint path called so far: a user id never changes.
        self._keys: dict[str, LimitKey] = {}

    def knows_user(self, endpoint: Endpoint[Any]) -> bool:
        """Whether a call to ``endpoint`` can be counted without looking the user up."""
        return self.user_id is not None or not endpoint.per_user

    def rule(self, endpoint: Endpoint[Any]) -> RateLimit:
        """The rule the client applies to ``endpoint``: the caller's override or OKX's."""
        return self._rate_limits.get(endpoint.path, endpoint.rule)

    def call(self, endpoint: Endpoint[T], wire: Mapping[str, Any]) -> Coroutine[Any, Any, T]:
        """The typed result of ``endpoint`` with checked arguments ``wire``, to await.

        A closed client raises here, before anything is awaited. The common case, a
        read without a deadline whose budget is known, is :meth:`_attempts` itself:
        no coroutine in between, which a request waiting for its slot would keep alive.
        """
        self._closer.check()
        deadline = self._retry.deadline
        if deadline is not None:
            return self._call_within(endpoint, wire, deadline)
        key = self._keys.get(endpoint.path)
        if key is None or endpoint.kind is not Kind.READ:
            return self._call(endpoint, wire, CallState(None))
        call = CallState(None)
        request = call.request = self._request(endpoint, wire, key)
        return self._attempts(request, endpoint.result, call, None)

    async def _call_within(
        self, endpoint: Endpoint[T], wire: Mapping[str, Any], deadline: float
    ) -> T:
        call = CallState(asyncio.get_running_loop().time() + deadline)
        try:
            async with asyncio.timeout_at(call.deadline_at):
                return await self._call(endpoint, wire, call)
        except TimeoutError:
            pass
        # Out of the except block: nothing but the failures of the call is chained.
        raise self._past_deadline(endpoint, call, deadline)

    async def _call(self, endpoint: Endpoint[T], wire: Mapping[str, Any], call: CallState) -> T:
        key = self._keys.get(endpoint.path) or await self._limit_key(endpoint, call)
        request = call.request = self._request(endpoint, wire, key)
        confirmed = endpoint.confirmed
        try:
            return await self._attempts(
                request, endpoint.result, call,
                None if confirmed is None else lambda: confirmed(_sent_wire(request)),
            )
        except OkxClientClosedError as closed:
            if not call.write_in_doubt():
                raise
            # Closing ends the wait, not the write that may already have executed.
            raise self._unknown(request, call, "the client was closed") from closed

    def _request(self, endpoint: Endpoint[Any], wire: Mapping[str, Any], key: LimitKey) -> Request:
        return build(
            endpoint.method, endpoint.path, wire, key=key, rule=self.rule(endpoint),
            kind=endpoint.kind, private=endpoint.private, key_param=endpoint.key_param,
        )

    async def server_time(self) -> ServerTime:
        """One request for OKX's clock, beside any call: no retry, no uid needed."""
        request = build(
            "GET", PUBLIC_TIME.path, {}, key=LimitKey(f"ip:{self._host}", PUBLIC_TIME.path),
            rule=self.rule(PUBLIC_TIME), kind=Kind.READ, private=False,
        )
        data = await self._sender.send(request, Attempt(), lifetime=self._lifetime)
        return PUBLIC_TIME.result(data)

    # Who is asking --------------------------------------------------------------------

    async def _limit_key(self, endpoint: Endpoint[Any], call: CallState) -> LimitKey:
        """The budget ``endpoint`` is counted in, remembered once the user is known."""
        if not endpoint.per_user:
            key = LimitKey(f"ip:{self._host}", endpoint.path)
        else:
            if self.user_id is None:
                self.user_id = await self._uids.resolve(
                    self._uid_key, lambda: self._look_up_uid(call), self._closer.wait
                )
            key = LimitKey(self.user_id, endpoint.path)
        self._keys[endpoint.path] = key
        return key

    async def _look_up_uid(self, call: CallState) -> str:
        # The user is not known yet, so neither is the budget OKX counts this by:
        # every lookup on this host shares one stand-in budget under the rule.
        request = build(
            "GET", ACCOUNT_CONFIG.path, {}, key=LimitKey(f"lookup:{self._host}",
                                                        ACCOUNT_CONFIG.path),
            rule=self.rule(ACCOUNT_CONFIG), kind=Kind.READ, approximate_key=True,
        )
        config = await self._attempts(request, ACCOUNT_CONFIG.result, call, None)
        log.debug("API key %s belongs to user %s", self._uid_key[1], config.uid)
        return config.uid

    # Attempts -------------------------------------------------------------------------

    async def _attempts(
        self,
        request: Request,
        read: Callable[[Data], T],
        call: CallState,
        confirmed: Callable[[], T] | None,
    ) -> T:
        tries: Tries | None = None  # made at the first failure: most requests have none
        while True:
            # One attempt, written out here rather than in a coroutine of its own: this
            # loop runs once per request of every call.
            self._closer.check()
            attempt = call.current = Attempt()
            syncs = self.clock.syncs
            try:
                data = await self._sender.send(
                    request, attempt, lifetime=self._lifetime_at(call.deadline_at),
                    send_by=None if tries is None else tries.send_by(call),
                )
            except TooLate:
                raise self._unknown(request, call, "not sent again: OKX may have forgotten "
                                    "its clOrdId by the time it arrived") from call.last_failure
            except OkxClientClosedError:
                raise
            except OkxError as exc:
                failed = exc
            else:
                # A cancellation (the deadline) leaves call.current set: it may be in flight.
                call.current = None
                call.sent += attempt.sent
                return read(data)
            # Out of the except block: what is raised from here chains only what it says.
            call.current = None
            if tries is None:
                tries = Tries(request)
            tries.sent(attempt)
            call.failed(failed, sent=attempt.sent)
            failure = classify(failed)
            decision = decide(failure, request, tries.failed(failure, call), self._retry)
            if decision.act is Act.CONFIRMED and confirmed is not None:
                log.info("%s %s (clOrdId %s) was already executed: confirmed by OKX",
                         request.method, request.path, request.cl_ord_id)
                return confirmed()
            if decision.act is Act.UNKNOWN:
                log.warning("%s %s failed after it may have been executed (%s); not sent again",
                            request.method, request.path, failed)
                raise self._unknown(request, call, None) from failed
            if decision.act is Act.RESYNC_CLOCK:
                problem = await self._resync_clock(syncs)
                if problem is None:
                    continue
                failed.add_note(f"measuring OKX's clock failed too: {problem}")
            if decision.act is not Act.RETRY:
                raise failed
            self._retrying(request, failure, failed, tries.attempts + 1, decision.after)
            if decision.after:
                await self._closer.wait(asyncio.sleep(decision.after))

    def _retrying(
        self, request: Request, failure: Failure, failed: OkxError, attempt: int, after: float
    ) -> None:
        """Log the retry and tell the caller's ``on_retry``; what that raises is only logged."""
        if failure is Failure.RATE_LIMITED and not request.approximate_key:
            log.warning("OKX answered 50011 for %s; retrying through the limiter", request.path)
        else:
            log.info("%s failed (%s); attempt %d in %.2fs", request.path, failed, attempt, after)
        notify = self._retry.on_retry
        if notify is not None:
            try:
                notify(Retrying(request.method, request.path, failed, attempt, after))
            except Exception:
                log.exception("on_retry raised; the call goes on")

    async def _resync_clock(self, syncs_seen: int) -> str | None:
        """Measure OKX's clock; a failure is returned, so the 50102 stays the error raised."""
        try:
            await self.clock.resync_after(syncs_seen, self.server_time)
        except OkxClientClosedError:
            raise
        except OkxError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _lifetime_at(self, deadline_at: float | None) -> float | None:
        """How long a request granted now may still reach OKX: its timeout, or the deadline."""
        if deadline_at is None:
            return self._lifetime
        left = max(0.0, deadline_at - asyncio.get_running_loop().time())
        return left if self._lifetime is None else min(self._lifetime, left)

    # Giving up --------------------------------------------------------------------------

    @staticmethod
    def _unknown(request: Request, call: CallState, why: str | None) -> OkxUnknownOutcomeError:
        error = OkxUnknownOutcomeError(
            SentRequest(request.method, request.target, request.body), cl_ord_id=request.cl_ord_id
        )
        if why:
            error.add_note(why)
        error.attempts = call.sent
        return error

    @staticmethod
    def _past_deadline(
        endpoint: Endpoint[Any], call: CallState, deadline: float
    ) -> OkxError:
        in_flight = call.current is not None and call.current.sent
        error = OkxTimeoutError(f"no result for {endpoint.path} within the {deadline}s deadline")
        error.attempts = call.sent + in_flight
        error.__cause__ = call.last_failure
        request = call.request
        if request is not None and call.write_in_doubt():
            # The deadline struck while the write was in flight, or after it may have
            # executed: it may have been executed.
            unknown = Pipeline._unknown(request, call, None)
            unknown.attempts = error.attempts
            unknown.__cause__ = error
            return unknown
        return error


def _sent_wire(request: Request) -> dict[str, Any]:
    """The parameters as they went out, read back from the request's body."""
    body: dict[str, Any] = json.loads(request.body) if request.body else {}
    return body
