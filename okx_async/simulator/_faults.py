"""Injected faults: what happens to a counted request between the rate limit and its answer.

A fault either strikes before the request executes (``"server-error"``: 50001,
``"busy"``: 50013; nothing changes) or after it (``"drop"``: the connection closes
without a byte, ``"html"``: an HTML 502 from a gateway, ``"garbled"``: HTTP 200 with a
body that is not JSON; the request did execute). ``hold`` keeps a request in flight
that many seconds before it executes: its ``clOrdId`` is claimed meanwhile, so a
duplicate meets ``51784``.

Faults come from two sources, checked in this order:

- a script per endpoint, consumed one entry per counted request to that endpoint:
  ``{"borrow": ["drop"]}`` drops the first borrow's answer, ``{"repay": [None,
  Fault(hold=1.5)]}`` holds the second repay 1.5 s (``None`` or ``"pass"`` is no fault);
- random rates, drawn in a fixed order for reproducible seeded runs, only on the
  endpoints given (all if None).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from typing import Final, Literal, get_args

import attrs

from . import _answers as answers
from ._answers import Answer

FaultKind = Literal["pass", "drop", "html", "garbled", "server-error", "busy"]
_KINDS: Final = get_args(FaultKind)
_BEFORE: Final[Mapping[str, Answer]] = {
    "server-error": answers.SERVER_ERROR, "busy": answers.BUSY,
}
_AFTER: Final[Mapping[str, Answer]] = {
    "drop": answers.DROP, "html": answers.HTML_502, "garbled": answers.GARBLED,
}
_LOAN: Final = "/api/v5/finance/flexible-loan/"


def _check_kind(instance: Fault, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _KINDS:
        raise ValueError(f"unknown fault {value!r}; choose from {_KINDS}")


def _check_hold(instance: Fault, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"hold must be a duration in seconds, got {value!r}")
    if value and instance.kind in _BEFORE:
        raise ValueError(f"a {instance.kind!r} fault strikes before executing; it cannot hold")


@attrs.frozen
class Fault:
    """One request's fault: held ``hold`` seconds in flight, then answered as ``kind``.

    ``Fault("drop")`` executes and loses the answer; ``Fault(hold=2.0)`` executes after
    two seconds and answers normally; ``Fault("garbled", hold=0.5)`` does both.
    """

    kind: FaultKind = attrs.field(default="pass", validator=_check_kind)
    hold: float = attrs.field(default=0.0, converter=float, validator=_check_hold)

    @property
    def before(self) -> Answer | None:
        """The answer given instead of executing, if this fault strikes first."""
        return _BEFORE.get(self.kind)

    @property
    def after(self) -> Answer | None:
        """The answer given after executing, in place of the real one."""
        return _AFTER.get(self.kind)


NO_FAULT: Final = Fault()
FaultSpec = Fault | FaultKind | None


def endpoint_path(name: str) -> str:
    """A path as given (``/api/...``), or a Flexible Loan endpoint by its last segment."""
    return name if name.startswith("/") else _LOAN + name


def _fault(spec: FaultSpec) -> Fault:
    if spec is None:
        return NO_FAULT
    return spec if isinstance(spec, Fault) else Fault(spec)


class FaultPlan:
    """Which fault each counted request meets: its endpoint's script, else a random draw.

    ``rates`` pairs a probability with a fault kind; ``known`` (if given) are the paths
    a script may name, so a misspelt endpoint fails at once::

        plan = FaultPlan(scripts={"borrow": ["drop", None, Fault(hold=1.0)]})
        plan.next("/api/v5/finance/flexible-loan/borrow")   # Fault(kind='drop', hold=0.0)
    """

    def __init__(
        self,
        *,
        scripts: Mapping[str, Sequence[FaultSpec]] | None = None,
        rates: Sequence[tuple[float, FaultKind]] = (),
        endpoints: Collection[str] | None = None,
        known: Collection[str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._scripts: dict[str, deque[Fault]] = {}
        for name, script in (scripts or {}).items():
            path = endpoint_path(name)
            if known is not None and path not in known:
                raise ValueError(f"faults: unknown endpoint {name!r}")
            if isinstance(script, str | Fault):
                raise TypeError(f"faults[{name!r}] must be a sequence of faults, got {script!r}")
            self._scripts[path] = deque(_fault(spec) for spec in script)
        # Zero rates draw no random numbers, so seeded runs stay alike as options vary.
        self._rates = [(rate, Fault(kind)) for rate, kind in rates if rate > 0.0]
        self._endpoints = None if endpoints is None else frozenset(endpoints)
        self._rng = rng or random.Random()

    def next(self, path: str) -> Fault:
        """The fault for the next counted request to ``path``."""
        script = self._scripts.get(path)
        if script:
            return script.popleft()
        if self._endpoints is None or path in self._endpoints:
            for rate, fault in self._rates:
                if self._rng.random() < rate:
                    return fault
        return NO_FAULT

    def pending(self) -> dict[str, int]:
        """Scripted faults not yet used, per path (paths with none left are omitted)."""
        return {path: len(script) for path, script in self._scripts.items() if script}
