"""Small pieces every benchmark shares: the endpoint, the rule arithmetic, currency codes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from okx_async._signing import Signer, okx_timestamp
from okx_async.simulator import DEMO_CREDENTIALS

from ._server import ArrivalRecord

#: The endpoint every benchmark calls, and its real rule: 5 requests per 2 s per user ID.
REDEEM_PATH: Final = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"
LIMIT: Final = 5
WINDOW: Final = 2.0
#: Code the server answers when a request went over the limit.
RATE_LIMITED: Final = "50011"
CREDENTIALS: Final = DEMO_CREDENTIALS


def least_time(n: int, limit: int = LIMIT, window: float = WINDOW) -> float:
    """The shortest wall time the rule allows for ``n`` requests (round trips not counted).

    The first ``limit`` go at once; every further batch of ``limit`` must wait a window.
    """
    return math.floor((n - 1) / limit) * window


def currencies(n: int) -> list[str]:
    """``n`` distinct codes, ``C00001``...; the benchmark simulator prices any code."""
    return [f"C{i:05d}" for i in range(1, n + 1)]


def redeem_arrivals(arrivals: list[ArrivalRecord]) -> list[ArrivalRecord]:
    """Only the requests to the benchmarked endpoint (not the user-id lookup)."""
    return [a for a in arrivals if a.endpoint == REDEEM_PATH]


def rejections(arrivals: list[ArrivalRecord]) -> int:
    """How many requests the server answered with 50011."""
    return sum(1 for a in arrivals if a.code == RATE_LIMITED)


@dataclass(frozen=True)
class Link:
    """A network path played by the simulator: delays before it counts a request, after."""

    key: str
    name: str
    #: Seconds a request spends (uniform low..high) before the server counts it.
    request: tuple[float, float] = (0.0, 0.0)
    #: Seconds the answer spends after the server counted the request.
    response: tuple[float, float] = (0.0, 0.0)

    @property
    def min_rtt(self) -> float:
        """The least a request can take from sending to its answer on this path."""
        return self.request[0] + self.response[0]


LOOPBACK: Final = Link("loopback", "loopback")
#: The link profiles of ``python -m benchmarks``; the first is the real loopback.
LINKS: Final = {
    link.key: link
    for link in (
        LOOPBACK,
        Link("jitter40", "loopback + 0-40 ms", (0.0, 0.04)),
        Link("wan50", "50 ms", (0.025, 0.025), (0.025, 0.025)),
        Link("wan150", "140-180 ms", (0.06, 0.10), (0.08, 0.08)),
        Link("slow", "answers 1.5 s late", (0.0, 0.0), (1.5, 1.5)),
    )
}


def signed_get_headers(signer: Signer, path: str) -> dict[str, str]:
    """The OKX auth headers of a GET of ``path`` with the demo key: the bare baselines' signing."""
    timestamp = okx_timestamp()
    return {
        "OK-ACCESS-KEY": CREDENTIALS.api_key,
        "OK-ACCESS-PASSPHRASE": CREDENTIALS.passphrase,
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-SIGN": signer.sign(timestamp, "GET", path),
    }
