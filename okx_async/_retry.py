"""The retry policy's settings: how many attempts, how long between them, and a deadline."""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from ._errors import OkxError


@attrs.frozen
class Retrying:
    """A call is about to send its request again: what failed, and when it tries next."""

    method: str
    #: The endpoint's path, without the query.
    path: str
    #: What the last attempt met.
    error: OkxError
    #: The number of the attempt about to be made (2 for the first retry).
    attempt: int
    #: Seconds until then; the limiter may hold it longer.
    delay: float


@attrs.frozen
class RetryPolicy:
    """Capped exponential backoff with jitter, for transient failures only.

    What is worth another attempt (a timeout, a 5xx, 50011, a busy code...) and what
    never is (an authentication or parameter error, a write that may have executed)
    is decided in one table, documented in docs/errors.md. Every retry goes through
    the limiter again. ``deadline`` bounds a whole call, waiting included; ``None``
    means no bound, which suits large fan-outs that queue for minutes by design.

    Example::

        OkxClient(creds, retry=RetryPolicy(max_attempts=3, deadline=30.0))
        OkxClient(creds, retry=RetryPolicy.disabled())
        OkxClient(creds, retry=RetryPolicy(on_retry=lambda r: print("retrying", r.path)))
    """

    max_attempts: int = attrs.field(default=6, validator=attrs.validators.ge(1))
    base_delay: float = attrs.field(default=0.25, validator=attrs.validators.ge(0.0))
    max_delay: float = attrs.field(default=8.0, validator=attrs.validators.ge(0.0))
    #: The random share of each delay, so clients that failed together spread out.
    jitter: float = attrs.field(default=0.5, validator=attrs.validators.and_(
        attrs.validators.ge(0.0), attrs.validators.le(1.0)))
    deadline: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0.0))
    )
    #: Called before each retry, say to tell a user that a call is retrying. What it
    #: raises is logged and changes nothing.
    on_retry: Callable[[Retrying], None] | None = attrs.field(default=None, eq=False)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """Send each request once; 50011 and every other failure go to the caller."""
        return cls(max_attempts=1)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        full = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return full * (1.0 - self.jitter * random.random())
