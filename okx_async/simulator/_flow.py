"""A counted private request's way to its answer: fault, ``clOrdId``, hold, execution.

:class:`RequestFlow` is the part of the server between the rate limit and the reply.
It needs no HTTP: the caller passes the request's user, path and JSON body, a function
that executes it, and the clock and sleep to use (a real loop's or a virtual one's).
:func:`path_rule` is the per-path rate-limit table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from . import _answers as answers
from ._answers import Answer
from ._borrow import KEYED_PATHS, WRITE_LIMIT, cl_ord_id
from ._faults import FaultPlan, endpoint_path
from ._idempotency import ClOrdIdStore, Seen

#: OKX's request count per window where it differs from the 5 of the other paths.
PATH_LIMITS: Final[Mapping[str, int]] = {path: WRITE_LIMIT for path in KEYED_PATHS}
_DUPLICATE: Final = {Seen.COMPLETED: answers.DUPLICATE, Seen.IN_FLIGHT: answers.IN_FLIGHT}

Rule = tuple[int, float]


def path_rules(rules: Mapping[str, Rule] | None) -> dict[str, Rule]:
    """``rules`` keyed by full path (a Flexible Loan endpoint may be named alone), checked."""
    checked: dict[str, Rule] = {}
    for name, (limit, window) in (rules or {}).items():
        if limit < 1 or not window > 0:
            raise ValueError(f"rules[{name!r}] must be (limit >= 1, window > 0), got "
                             f"{(limit, window)!r}")
        checked[endpoint_path(name)] = (int(limit), float(window))
    return checked


def path_rule(path: str, limit: int, window: float, rules: Mapping[str, Rule]) -> Rule:
    """The (requests, seconds) rule of ``path``.

    ``rules`` (from :func:`path_rules`) wins. Otherwise every path has ``window``, and
    ``limit`` requests in it, except borrow and repay, which keep OKX's 2 whatever
    ``limit`` is: ``window`` stands for OKX's 2 s, ``limit`` for the 5 of the reads.
    """
    return rules.get(path) or (PATH_LIMITS.get(path, limit), window)


class RequestFlow:
    """Faults, the clOrdId store and holds, for one simulator.

    Usage (``execute`` runs the business handler and returns its answer)::

        flow = RequestFlow(FaultPlan(), ClOrdIdStore(), clock=loop.time, sleep=asyncio.sleep)
        answer = await flow.answer(uid, path, body, execute)
    """

    def __init__(
        self,
        plan: FaultPlan,
        store: ClOrdIdStore,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.plan = plan
        self.store = store
        self._clock = clock
        self._sleep = sleep

    async def answer(
        self, uid: str, path: str, body: Mapping[str, Any], execute: Callable[[], Answer]
    ) -> Answer:
        """The answer to one counted request, executing it at most once."""
        fault = self.plan.next(path)
        if fault.before is not None:
            return fault.before
        key = cl_ord_id(body) if path in KEYED_PATHS else None
        claim = None if key is None else self.store.claim((uid, path, key), self._clock())
        try:
            if fault.hold:
                await self._sleep(fault.hold)
        except BaseException:
            # Cancelled before it executed: as if it never arrived.
            if claim is not None and not isinstance(claim, Seen):
                self.store.release(claim)
            raise
        if isinstance(claim, Seen):
            result = _DUPLICATE[claim]
        else:
            result = execute()
            if claim is not None:
                if result.code == "0":
                    self.store.complete(claim)
                else:
                    self.store.release(claim)
        return fault.after or result
