"""The retry policy: which failures are worth another request, and after how long."""

from __future__ import annotations

import random

import attrs

from ._errors import RATE_LIMITED, RETRYABLE_CODES, OkxAPIError, OkxError, OkxTransportError


@attrs.frozen
class RetryPolicy:
    """Capped exponential backoff with jitter, for transient failures only.

    Retried: timeouts and connection errors, HTTP 5xx answers that are not OKX
    envelopes, and codes 50001, 50004, 50011, 50013 and 50026. Never retried:
    authentication (501xx) and parameter (51xxx) errors. Every retry goes through
    the limiter again. ``deadline`` bounds a whole call, waiting included; ``None``
    means no bound, which suits large fan-outs that queue for minutes by design.

    Example::

        OkxClient(creds, retry=RetryPolicy(max_attempts=3, deadline=30.0))
        OkxClient(creds, retry=RetryPolicy.disabled())
    """

    max_attempts: int = attrs.field(default=6, validator=attrs.validators.ge(1))
    base_delay: float = 0.25
    max_delay: float = 8.0
    #: The random share of each delay, so clients that failed together spread out.
    jitter: float = attrs.field(default=0.5, validator=attrs.validators.and_(
        attrs.validators.ge(0.0), attrs.validators.le(1.0)))
    deadline: float | None = None

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """Send each request once; 50011 and every other failure go to the caller."""
        return cls(max_attempts=1)

    def delay(self, exc: OkxError, attempt: int) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or ``None`` to give up."""
        if attempt >= self.max_attempts or not is_retryable(exc):
            return None
        if isinstance(exc, OkxAPIError) and exc.code == RATE_LIMITED:
            return 0.0  # the limiter's pause already spaces the retry
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return backoff * (1.0 - self.jitter * random.random())


def is_retryable(exc: OkxError) -> bool:
    """True for failures that another identical GET may not meet."""
    if isinstance(exc, OkxAPIError):
        return exc.code in RETRYABLE_CODES
    if isinstance(exc, OkxTransportError):
        return True
    http_status = getattr(exc, "http_status", None)
    return http_status is not None and http_status >= 500
