"""Checks on the simulator's log of arrival times: the rule held, and nothing was wasted."""

from __future__ import annotations

from collections.abc import Sequence

from okx_async.simulator import Arrival, max_in_any_window

ENDPOINT = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"


def least_time(n: int, requests: int = 5, window: float = 2.0) -> float:
    """The least time the rule allows between the first and the last of ``n`` requests."""
    return (n - 1) // requests * window


def assert_schedule(
    arrivals: Sequence[Arrival],
    *,
    requests: int = 5,
    window: float = 2.0,
    slack: float = 0.3,
    rtt: float = 0.0,
    endpoint: str = ENDPOINT,
) -> list[float]:
    """Assert the rule held in every window and no request was held back needlessly.

    The k-th accepted arrival may come at most ``window + rtt + slack`` after the
    (k - requests)-th: any later and the client wasted budget. A slot comes back a
    window after its answer, hence ``rtt``, the longest round trip the test sets up;
    ``slack`` allows the limiter's margin and a loaded machine. The second window's
    requests probe the server evenly spaced, ``window / requests`` apart.
    """
    times = sorted(a.t for a in arrivals if a.endpoint == endpoint and a.code == "0")
    rejected = [a for a in arrivals if a.code == "50011"]
    assert not rejected, f"{len(rejected)} requests were rejected with 50011"
    assert max_in_any_window(times, window) <= requests
    first_burst = [t - times[0] for t in times[:requests]]
    assert max(first_burst) < slack, f"the first {requests} did not go at once: {first_burst}"
    for k in range(requests, len(times)):
        gap = times[k] - times[k - requests]
        probing = (k - requests) * window / requests if k < 2 * requests else 0.0
        allowed = window + rtt + slack + probing
        assert gap <= allowed, f"request {k} was held back {gap - allowed:.3f}s too long"
    return times
