"""What a call has done so far: the state the pipeline keeps between attempts.

:class:`CallState` spans every request of one call (the uid lookup's too): what
was sent, the last failure, whether a write may have executed. :class:`Tries` is one
request's attempts: how many count against ``max_attempts``, the clock retry, and
when it first went out (a keyed write's key is remembered from then).
"""

from __future__ import annotations

import asyncio

from ._errors import OkxError
from ._policy import KEY_MARGIN, MAY_HAVE_EXECUTED, Failure, History
from ._request import KEY_RETENTION, Kind, Request
from ._sender import Attempt, Data


class CallState:
    """What one call has done so far, across the requests it made (uid lookup included)."""

    __slots__ = ("current", "deadline_at", "last_failure", "may_have_executed", "request", "sent")

    def __init__(self, deadline_at: float | None) -> None:
        self.deadline_at = deadline_at
        #: Requests sent so far: an error's ``attempts``.
        self.sent = 0
        #: The failure before the one being raised, chained as its ``__cause__``.
        self.last_failure: OkxError | None = None
        #: A write of this call may have been executed by an earlier attempt.
        self.may_have_executed = False
        #: The attempt under way, if any.
        self.current: Attempt | None = None
        #: The call's own request, once built (after the uid lookup).
        self.request: Request | None = None

    def write_in_doubt(self) -> bool:
        """The call's write may have executed: in an earlier attempt, or one in flight."""
        request = self.request
        in_flight = self.current is not None and self.current.sent
        return request is not None and request.is_write and (self.may_have_executed or in_flight)

    def failed(self, exc: OkxError, *, sent: bool) -> None:
        """An attempt failed with ``exc``; ``sent``: its request went out."""
        self.sent += sent
        if self.last_failure is not None and exc.__cause__ is None:
            exc.__cause__ = self.last_failure
        self.last_failure = exc
        exc.attempts = self.sent


class Tries:
    """The attempts of one request: how many count, the clock retry, the first send."""

    __slots__ = ("_request", "attempts", "data", "first_sent", "resynced")

    def __init__(self, request: Request) -> None:
        self._request = request
        #: Failed attempts counted against ``max_attempts``; the 50102 retry is not.
        self.attempts = 0
        self.resynced = False
        #: Loop time of the first attempt that went out.
        self.first_sent: float | None = None
        self.data: Data = []

    def sent(self, attempt: Attempt) -> None:
        if attempt.sent and self.first_sent is None:
            self.first_sent = asyncio.get_running_loop().time()

    def failed(self, failure: Failure, call: CallState) -> History:
        """Count a failed attempt; what the policy needs to know of the attempts so far."""
        request = self._request
        call.may_have_executed |= request.is_write and failure in MAY_HAVE_EXECUTED
        if failure is Failure.CLOCK and not self.resynced:
            self.resynced = True  # retried once, outside the budget: our clock, not OKX
            return History(self.attempts, call.may_have_executed, False, self._elapsed())
        self.attempts += 1
        return History(self.attempts, call.may_have_executed, self.resynced, self._elapsed())

    def send_by(self, call: CallState) -> float | None:
        """A keyed write resent after it may have executed goes out by then, or not at all."""
        if self._request.kind is not Kind.KEYED_WRITE or self.first_sent is None:
            return None
        if not call.may_have_executed:
            return None
        return self.first_sent + KEY_RETENTION - KEY_MARGIN

    def _elapsed(self) -> float:
        if self.first_sent is None:
            return 0.0
        return asyncio.get_running_loop().time() - self.first_sent
