"""The two Lua scripts, and their arguments in the order the scripts name them.

Each ``.lua`` file names its ``ARGV`` at the top; the builders here follow that order,
so the layout lives in two places side by side and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.resources import files
from typing import Any, Final

from .._adapt import BACKOFF_CAP, BACKOFF_FACTOR, RECOVERY_STEP
from .._window import RateLimit
from ._budget import PEERS, Finished, Waiter


def _lua(name: str) -> str:
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


ACQUIRE: Final = _lua("acquire.lua")
RECORD: Final = _lua("record.lua")
#: How soon a waiter looks again while a probe is in flight: its answer frees the next.
POLL: Final = 0.01


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def acquire_args(
    instance: str, rule: RateLimit, *, margin: float, ttl: float, hold: float, known: bool,
    state_ttl: float, drops: Iterable[str], waiters: Iterable[Waiter], now: float,
) -> list[str | int]:
    """ARGV of acquire.lua. ``hold`` is the restart hold in seconds (0: none)."""
    cool = rule.window + margin
    drops = list(drops)
    waiters = list(waiters)
    args: list[str | int] = [
        instance, rule.requests, _ms(cool), _ms(cool + ttl), _ms(ttl), _ms(hold),
        int(known), round(state_ttl * 1000), round(PEERS * 1000), _ms(POLL),
        len(drops), *drops, len(waiters),
    ]
    for w in waiters:
        args += [w.ticket, _ms(now - w.since)]
    return args


def record_args(
    instance: str, rule: RateLimit, *, margin: float, ttl: float, state_ttl: float,
    finished: Mapping[str, Finished], flying: Iterable[str], now: float,
) -> list[str | int]:
    """ARGV of record.lua: this process's finished and in-flight slots."""
    cool = rule.window + margin
    flying = list(flying)
    args: list[str | int] = [
        instance, _ms(cool), _ms(cool + ttl), _ms(ttl), _ms(cool / rule.requests),
        str(BACKOFF_FACTOR), str(BACKOFF_CAP), str(RECOVERY_STEP),
        round(state_ttl * 1000), round(PEERS * 1000), len(finished),
    ]
    for permit, f in finished.items():
        args += [permit, _ms(now - f.arrival), int(f.answer), _ms(now - f.granted)]
    args += [len(flying), *flying]
    return args


def acquire_reply(reply: Any) -> tuple[float | None, int, float, list[str]]:
    """(seconds to sleep or None: nobody waits, processes seen, seconds until the last
    slot frees, permits granted) from acquire.lua's reply."""
    wait_ms, peers, busy_ms = float(reply[0]), int(reply[1]), float(reply[2])
    wait = None if wait_ms < 0 else wait_ms / 1000
    return wait, peers, busy_ms / 1000, [_text(r) for r in reply[3:]]


def _text(value: Any) -> str:
    """Redis replies are bytes unless the client was made with ``decode_responses``."""
    return value.decode() if isinstance(value, bytes) else str(value)
