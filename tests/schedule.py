"""The schedule the limiter's design gives on virtual time, and checks of arrivals against it.

On a virtual-time loop every timer fires exactly when it was set for, so the only
allowance between what the rule permits and what the client does is the design's:
the limiter's ``margin`` on every window, the round trips the test sets up, and the
spacing of the probes in the second window. Nothing is added for a loaded machine.
"""

from __future__ import annotations

from collections.abc import Sequence

from okx_async import RateLimit
from okx_async._window import DEFAULT_MARGIN
from okx_async.simulator import Arrival
from okx_async.simulator._algorithms import max_in_any_window

ENDPOINT = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"
#: OKX's rule for the Flexible Loan reads: 5 requests per 2 s per user ID.
RULE = RateLimit(5, 2.0)
#: A slot comes back this long after its request's answer, at the real rule.
COOL = RULE.window + DEFAULT_MARGIN
#: What float sums of window lengths may be off by; nothing else is allowed for.
EPSILON = 1e-9


def least_time(n: int, rule: RateLimit = RULE) -> float:
    """The least time the rule allows between the first and the last of ``n`` requests."""
    return (n - 1) // rule.requests * rule.window


def full_speed(n: int, rule: RateLimit = RULE, start: float = 0.0) -> list[float]:
    """When ``n`` requests sent at once arrive, answered at once: a burst per window.

    A slot comes back ``window + margin`` after its answer, so each burst goes that
    long after the one before (summed as the limiter sums it, to the last bit).
    """
    times: list[float] = []
    burst = start
    while len(times) < n:
        times += [burst] * min(rule.requests, n - len(times))
        burst += rule.window + DEFAULT_MARGIN
    return times


def assert_schedule(
    arrivals: Sequence[Arrival],
    *,
    rule: RateLimit = RULE,
    latency: tuple[float, float] = (0.0, 0.0),
    endpoint: str = ENDPOINT,
) -> list[float]:
    """Assert the rule held in every window and no request was held back needlessly.

    ``latency`` is the longest trip there and the longest trip back the test sets up.
    The first ``requests`` go at once and arrive within a trip there. The k-th
    accepted arrival comes at most ``window + margin`` plus a round trip after the
    (k - requests)-th: its slot came back ``window + margin`` after the answer, which
    took at most the trip back, and it took at most the trip there. The second
    window's requests may probe the server one at a time, ``(window + margin) /
    requests`` apart. Returns the accepted arrival times, sorted.
    """
    up, down = latency
    times = sorted(a.t for a in arrivals if a.endpoint == endpoint and a.code == "0")
    rejected = [a for a in arrivals if a.code == "50011"]
    assert not rejected, f"{len(rejected)} requests were rejected with 50011"
    assert max_in_any_window(times, rule.window) <= rule.requests
    first_burst = [t - times[0] for t in times[: rule.requests]]
    assert max(first_burst) <= up + EPSILON, f"the first burst did not go at once: {first_burst}"
    cool = rule.window + DEFAULT_MARGIN
    for k in range(rule.requests, len(times)):
        gap = times[k] - times[k - rule.requests]
        n = k - rule.requests
        probing = n * cool / rule.requests if n < rule.requests else 0.0
        allowed = cool + up + down + probing
        assert gap <= allowed + EPSILON, f"request {k} was held back {gap - allowed:.6f}s too long"
    return times
