"""The decision policy as a table: every kind of failure against every kind of request."""

from __future__ import annotations

import pytest

from okx_async import (
    LimitKey,
    OkxAPIError,
    OkxAuthError,
    OkxConnectError,
    OkxError,
    OkxParameterError,
    OkxRateLimitError,
    OkxResponseError,
    OkxServerBusyError,
    OkxTimeoutError,
    OkxTransportError,
    Outcome,
    RateLimit,
    RetryPolicy,
)
from okx_async._policy import Act, Failure, History, classify, decide, limit_outcome
from okx_async._request import Kind, Request

READ, KEYED, UNKEYED = Kind.READ, Kind.KEYED_WRITE, Kind.UNKEYED_WRITE
RETRY, RESYNC, RAISE, UNKNOWN, CONFIRMED = (
    Act.RETRY, Act.RESYNC_CLOCK, Act.RAISE, Act.UNKNOWN, Act.CONFIRMED
)

#: The first failed attempt of a request, nothing executed before it.
FIRST: dict[Failure, tuple[Act, Act, Act]] = {
    #                               read      keyed write  unkeyed write
    Failure.NOT_SENT:             (RETRY,    RETRY,       RETRY),
    Failure.NO_ANSWER:            (RETRY,    RETRY,       UNKNOWN),
    Failure.SERVER_ERROR_PAGE:    (RETRY,    RETRY,       UNKNOWN),
    Failure.GARBLED:              (RAISE,    RETRY,       UNKNOWN),
    Failure.GATEWAY_REFUSED:      (RAISE,    RAISE,       RAISE),
    Failure.RATE_LIMITED:         (RETRY,    RETRY,       RETRY),
    Failure.CLOCK:                (RESYNC,   RESYNC,      RESYNC),
    Failure.BUSY:                 (RETRY,    RETRY,       UNKNOWN),
    Failure.DUPLICATE:            (RAISE,    CONFIRMED,   UNKNOWN),
    Failure.IN_PROGRESS:          (RAISE,    RETRY,       UNKNOWN),
    Failure.REFUSED:              (RAISE,    RAISE,       RAISE),
}

#: The same failure on the last attempt allowed, after an attempt that may have executed.
LAST_AFTER_DOUBT: dict[Failure, tuple[Act, Act, Act]] = {
    Failure.NOT_SENT:             (RAISE,    UNKNOWN,     UNKNOWN),
    Failure.NO_ANSWER:            (RAISE,    UNKNOWN,     UNKNOWN),
    Failure.SERVER_ERROR_PAGE:    (RAISE,    UNKNOWN,     UNKNOWN),
    Failure.GARBLED:              (RAISE,    UNKNOWN,     UNKNOWN),
    Failure.GATEWAY_REFUSED:      (RAISE,    UNKNOWN,     UNKNOWN),
    Failure.RATE_LIMITED:         (RAISE,    UNKNOWN,     UNKNOWN),
    Failure.CLOCK:                (RESYNC,   RESYNC,      RESYNC),
    Failure.BUSY:                 (RAISE,    UNKNOWN,     UNKNOWN),
    Failure.DUPLICATE:            (RAISE,    CONFIRMED,   UNKNOWN),
    Failure.IN_PROGRESS:          (RAISE,    UNKNOWN,     UNKNOWN),
    Failure.REFUSED:              (RAISE,    UNKNOWN,     UNKNOWN),
}

POLICY = RetryPolicy(max_attempts=3, base_delay=0.1, jitter=0.0)


def request(kind: Kind, *, approximate_key: bool = False) -> Request:
    return Request(
        "POST" if kind is not READ else "GET", "/api/v5/x", "/api/v5/x", b"{}",
        LimitKey("1", "/api/v5/x"), RateLimit(5, 2.0), kind,
        cl_ord_id="k" if kind is KEYED else None, approximate_key=approximate_key,
    )


@pytest.mark.parametrize("failure", list(Failure))
def test_every_failure_on_a_first_attempt(failure: Failure) -> None:
    for kind, expected in zip((READ, KEYED, UNKEYED), FIRST[failure], strict=True):
        may = kind is not READ and failure in (
            Failure.NO_ANSWER, Failure.SERVER_ERROR_PAGE, Failure.GARBLED, Failure.BUSY,
            Failure.DUPLICATE, Failure.IN_PROGRESS,
        )
        decision = decide(failure, request(kind), History(1, may, False, 0.0), POLICY)
        assert decision.act is expected, (failure, kind)


@pytest.mark.parametrize("failure", list(Failure))
def test_every_failure_on_the_last_attempt_after_one_that_may_have_executed(
    failure: Failure,
) -> None:
    for kind, expected in zip((READ, KEYED, UNKEYED), LAST_AFTER_DOUBT[failure], strict=True):
        history = History(POLICY.max_attempts, kind is not READ, False, 5.0)
        assert decide(failure, request(kind), history, POLICY).act is expected, (failure, kind)


def test_the_table_covers_every_failure() -> None:
    assert set(FIRST) == set(LAST_AFTER_DOUBT) == set(Failure)


def test_backoff_grows_and_a_rate_limit_waits_only_for_the_limiter() -> None:
    read = request(READ)
    delays = [decide(Failure.BUSY, read, History(n, False, False, 0), POLICY).after
              for n in (1, 2)]
    assert delays == [0.1, 0.2]
    assert decide(Failure.RATE_LIMITED, read, History(1, False, False, 0), POLICY).after == 0.0
    # A stand-in budget (the uid lookup) learns nothing from a 50011: wait a window.
    lookup = request(READ, approximate_key=True)
    assert decide(Failure.RATE_LIMITED, lookup, History(1, False, False, 0), POLICY).after == 2.0


def test_a_keyed_write_is_resent_only_while_okx_remembers_its_key() -> None:
    keyed = request(KEYED)
    within = decide(Failure.NO_ANSWER, keyed, History(1, True, False, 40.0), POLICY)
    assert within.act is RETRY
    # 60 s retention less a 10 s margin: a resend due after 50 s is not made.
    late = decide(Failure.NO_ANSWER, keyed, History(1, True, False, 49.95), POLICY)
    assert late.act is UNKNOWN
    # Nothing executed yet (a refused connection): the key's age does not matter.
    assert decide(Failure.NOT_SENT, keyed, History(1, False, False, 55.0), POLICY).act is RETRY


def test_the_clock_is_measured_once_per_request() -> None:
    for kind in Kind:
        assert decide(Failure.CLOCK, request(kind), History(1, False, True, 0), POLICY).act is (
            RAISE
        )


ACCEPTED, THROTTLED, NO_EVIDENCE, NOT_SENT = (
    Outcome.ACCEPTED, Outcome.THROTTLED, Outcome.UNKNOWN, Outcome.NOT_SENT
)


@pytest.mark.parametrize(
    ("error", "failure", "outcome"),
    [
        (OkxConnectError("refused"), Failure.NOT_SENT, NOT_SENT),
        (OkxTimeoutError("slow"), Failure.NO_ANSWER, NO_EVIDENCE),
        (OkxTransportError("reset"), Failure.NO_ANSWER, NO_EVIDENCE),
        (OkxResponseError("html", http_status=502), Failure.SERVER_ERROR_PAGE, NO_EVIDENCE),
        (OkxResponseError("html", http_status=403), Failure.GATEWAY_REFUSED, NO_EVIDENCE),
        (OkxResponseError("not json", http_status=200), Failure.GARBLED, NO_EVIDENCE),
        (OkxResponseError("bad field"), Failure.GARBLED, NO_EVIDENCE),
        (OkxRateLimitError("50011", ""), Failure.RATE_LIMITED, THROTTLED),
        (OkxAuthError("50102", ""), Failure.CLOCK, NO_EVIDENCE),
        (OkxServerBusyError("50004", ""), Failure.BUSY, NO_EVIDENCE),
        (OkxParameterError("51016", ""), Failure.DUPLICATE, ACCEPTED),
        (OkxParameterError("51784", ""), Failure.IN_PROGRESS, ACCEPTED),
        (OkxParameterError("51000", ""), Failure.REFUSED, ACCEPTED),
        (OkxAuthError("50113", ""), Failure.REFUSED, NO_EVIDENCE),
        (OkxAPIError("59999", ""), Failure.REFUSED, NO_EVIDENCE),
    ],
)
def test_what_each_error_proves(error: OkxError, failure: Failure, outcome: Outcome) -> None:
    """What the failure means for the request, and what it tells the rate limiter."""
    assert classify(error) is failure
    assert limit_outcome(error) is outcome
