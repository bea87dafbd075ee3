"""The simulator's options: their names and types, and the checks they must pass."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Final, Literal, TypedDict

from ._algorithms import AlgorithmName
from ._demo import SimKey

RateLimitStyle = Literal["modern", "legacy-200", "legacy-int"]
Amounts = Mapping[str, str] | Callable[[str], str | None]

_ALGORITHMS: Final = ("sliding-log", "fixed-window", "token-bucket", "sliding-window-counter")
_STYLES: Final = ("modern", "legacy-200", "legacy-int")


class SimulatorOptions(TypedDict, total=False):
    """The options of a :class:`~okx_async.simulator.Simulator`, whichever way it serves."""

    keys: Mapping[str, SimKey]
    amounts: Amounts
    loans: Mapping[str, str] | None
    limit: int
    window: float
    rate_limit: bool
    algorithm: AlgorithmName
    request_latency: tuple[float, float]
    response_latency: tuple[float, float]
    html_error_rate: float
    server_error_rate: float
    busy_rate: float
    drop_rate: float
    fault_endpoints: Collection[str] | None
    clock_skew: float
    rate_limit_style: RateLimitStyle
    seed: int | None


def check_rate(name: str, value: float) -> float:
    """Validate a probability option."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def check_latency(name: str, value: tuple[float, float]) -> tuple[float, float]:
    """Validate a ``(low, high)`` delay option."""
    low, high = value
    if not 0.0 <= low <= high:
        raise ValueError(f"{name} must be (low, high) with 0 <= low <= high, got {value!r}")
    return (float(low), float(high))


def check_rule(limit: int, window: float, algorithm: str, style: str) -> None:
    """Validate the rate-limit options."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit!r}")
    if window <= 0:
        raise ValueError(f"window must be positive, got {window!r}")
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {_ALGORITHMS}")
    if style not in _STYLES:
        raise ValueError(f"unknown rate_limit_style {style!r}; choose from {_STYLES}")
