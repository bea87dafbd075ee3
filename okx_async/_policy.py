"""What a failed attempt means, and what to do next: the one place that decides.

``classify`` reads a failure as the server's evidence (was the request refused
before executing? may it have executed?), ``decide`` turns that, the attempt number
and the request's kind into a :class:`Decision`, and ``limit_outcome`` tells the
limiter what the answer says about the server's rate limit. No I/O, no clock: the
caller passes ``elapsed`` and acts on the decision. The policy knows nothing of the
limiter's internals, and the limiter knows nothing of OKX's codes.
"""

from __future__ import annotations

import enum

import attrs

from ._errors import (
    BUSY_CODES,
    DUPLICATE_DONE,
    DUPLICATE_IN_FLIGHT,
    RATE_LIMITED,
    TIMESTAMP_EXPIRED,
    OkxAPIError,
    OkxConnectError,
    OkxError,
    OkxParameterError,
    OkxResponseError,
    OkxTransportError,
)
from ._limiter import Outcome
from ._request import KEY_RETENTION, Kind, Request
from ._retry import RetryPolicy


class Failure(enum.Enum):
    """A failed attempt, by what it proves about the request on OKX's side."""

    #: No connection could be opened: not a byte was sent.
    NOT_SENT = "not sent"
    #: Sent, and no answer came: a timeout, a dropped or reset connection.
    NO_ANSWER = "no answer"
    #: An answer that is not OKX's, with a 5xx status: a gateway failed on the way.
    SERVER_ERROR_PAGE = "server error page"
    #: An answer that is not OKX's with any other success-like status, or an envelope
    #: whose data cannot be read: OKX may have executed the request.
    GARBLED = "garbled answer"
    #: An answer that is not OKX's with a 4xx status: a gateway refused the request.
    GATEWAY_REFUSED = "refused by a gateway"
    #: 50011: over the rate limit; OKX refuses these before executing.
    RATE_LIMITED = "rate limited"
    #: 50102: the timestamp was refused at authentication, before executing.
    CLOCK = "timestamp expired"
    #: 50001, 50004, 50013, 50026: OKX may send them after the work was done.
    BUSY = "busy"
    #: 51016: a request with this ``clOrdId`` was already executed.
    DUPLICATE = "duplicate of a completed request"
    #: 51784: a request with this ``clOrdId`` is still being processed.
    IN_PROGRESS = "duplicate of a request in progress"
    #: Any other error code: OKX refused the request and changed nothing.
    REFUSED = "refused"


#: Failures after which the request may have been executed.
MAY_HAVE_EXECUTED = frozenset({
    Failure.NO_ANSWER, Failure.SERVER_ERROR_PAGE, Failure.GARBLED, Failure.BUSY,
    Failure.DUPLICATE, Failure.IN_PROGRESS,
})


def classify(exc: OkxError) -> Failure:
    """What ``exc``, raised by one attempt, proves about the request."""
    if isinstance(exc, OkxAPIError):
        code = exc.code
        if code == RATE_LIMITED:
            return Failure.RATE_LIMITED
        if code == TIMESTAMP_EXPIRED:
            return Failure.CLOCK
        if code in BUSY_CODES:
            return Failure.BUSY
        if code == DUPLICATE_DONE:
            return Failure.DUPLICATE
        if code == DUPLICATE_IN_FLIGHT:
            return Failure.IN_PROGRESS
        return Failure.REFUSED
    if isinstance(exc, OkxConnectError):
        return Failure.NOT_SENT
    if isinstance(exc, OkxTransportError):
        return Failure.NO_ANSWER
    if isinstance(exc, OkxResponseError):
        status = exc.http_status
        if status is not None and status >= 500:
            return Failure.SERVER_ERROR_PAGE
        if status is not None and 400 <= status < 500:
            return Failure.GATEWAY_REFUSED
        return Failure.GARBLED
    return Failure.REFUSED


def limit_outcome(exc: OkxError) -> Outcome:
    """What an attempt that failed with ``exc`` says about the server's rate limit.

    Only a parameter error (OKX checks parameters after the limit) shows the request
    got through; 50011 shows it did not; a connection that never opened shows nothing
    was sent. Anything else is no evidence either way.
    """
    if isinstance(exc, OkxAPIError) and exc.code == RATE_LIMITED:
        return Outcome.THROTTLED
    if isinstance(exc, OkxParameterError):
        return Outcome.ACCEPTED
    if isinstance(exc, OkxConnectError):
        return Outcome.NOT_SENT
    return Outcome.UNKNOWN


class Act(enum.Enum):
    #: Send the same request again after ``Decision.after`` seconds: the same bytes,
    #: so a keyed write keeps its ``clOrdId``.
    RETRY = "retry"
    #: Measure OKX's clock, then send again at once.
    RESYNC_CLOCK = "resync the clock and retry"
    #: Raise the failure as it is: nothing was executed, or the request is a read.
    RAISE = "raise"
    #: Raise :class:`OkxUnknownOutcomeError`: the write may have been executed.
    UNKNOWN = "raise an unknown outcome"
    #: OKX says this ``clOrdId`` was executed: the write succeeded.
    CONFIRMED = "confirmed by a duplicate"


@attrs.frozen
class Decision:
    act: Act
    after: float = 0.0


@attrs.frozen
class History:
    """What earlier attempts of one request showed, for the decision about the next."""

    #: Attempts made, the failed one included; the 50102 retry is not counted.
    attempts: int
    #: An earlier attempt, or this one, may have been executed.
    may_have_executed: bool
    #: The clock was measured after a 50102 already.
    resynced: bool
    #: Seconds since the first attempt was sent, for a keyed write's retention.
    elapsed: float


#: Resends of a keyed write stop this long before OKX forgets its ``clOrdId``, for
#: the trip to OKX and the two clocks' disagreement.
KEY_MARGIN = 10.0
#: OKX says it still processes the first: look again this much later at least.
IN_PROGRESS_PAUSE = 0.5


def decide(failure: Failure, request: Request, history: History, retry: RetryPolicy) -> Decision:
    """The next step after a failed attempt of ``request``; see docs/errors.md for the table."""
    kind = request.kind
    decision = _by_kind(failure, request, history, retry)
    if kind is Kind.READ:
        return decision
    if decision.act is Act.RAISE and history.may_have_executed:
        # This refusal does not undo an earlier attempt that may have been executed.
        return Decision(Act.UNKNOWN)
    if (
        kind is Kind.KEYED_WRITE and decision.act is Act.RETRY
        and history.may_have_executed
        and history.elapsed + decision.after > KEY_RETENTION - KEY_MARGIN
    ):
        # OKX may forget the key before the resend arrives: it could execute again.
        return Decision(Act.UNKNOWN)
    return decision


def _by_kind(failure: Failure, request: Request, history: History, retry: RetryPolicy) -> Decision:
    kind = request.kind
    if failure is Failure.CLOCK:
        return Decision(Act.RAISE if history.resynced else Act.RESYNC_CLOCK)
    if failure is Failure.DUPLICATE and kind is Kind.KEYED_WRITE:
        return Decision(Act.CONFIRMED)
    out_of_attempts = history.attempts >= retry.max_attempts
    if failure is Failure.RATE_LIMITED:
        if out_of_attempts:
            return Decision(Act.RAISE)
        # The limiter paused the budget when it heard of the 50011, so the next
        # attempt waits its turn there; a stand-in budget learns nothing, so wait out
        # a window of its rule here instead.
        return Decision(Act.RETRY, request.rule.window if request.approximate_key else 0.0)
    if not _worth_another(failure, kind) or out_of_attempts:
        if kind is not Kind.READ and failure in MAY_HAVE_EXECUTED:
            return Decision(Act.UNKNOWN)
        return Decision(Act.RAISE)
    after = retry.backoff(history.attempts)
    if failure is Failure.IN_PROGRESS:
        after = max(after, IN_PROGRESS_PAUSE)
    return Decision(Act.RETRY, after)


def _worth_another(failure: Failure, kind: Kind) -> bool:
    """Whether the same request, sent again, may meet a different answer safely."""
    if failure is Failure.NOT_SENT:
        return True
    if kind is Kind.UNKEYED_WRITE:
        return False  # anything else may have executed, or is a definite refusal
    if failure in (Failure.NO_ANSWER, Failure.SERVER_ERROR_PAGE, Failure.BUSY):
        return True
    if kind is Kind.KEYED_WRITE:
        return failure in (Failure.GARBLED, Failure.IN_PROGRESS)
    return False
