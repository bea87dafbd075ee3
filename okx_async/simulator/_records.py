"""Loan history and interest records, their reference ids, and OKX's paging over them."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import attrs

from ._orders import plain


@attrs.define
class HistoryEntry:
    """One ``loan-history`` record; ``ord_id`` is for filtering, OKX does not send it."""

    ref_id: int
    type: str
    ccy: str
    amt: Decimal
    ts: int
    ord_id: str = ""

    def to_okx(self) -> dict[str, Any]:
        return {"refId": str(self.ref_id), "type": self.type, "ccy": self.ccy,
                "amt": plain(self.amt), "ts": str(self.ts)}


@attrs.define
class InterestEntry:
    """One ``interest-accrued`` record; ``ord_id`` is for filtering, OKX does not send it."""

    ref_id: int
    ccy: str
    loan: Decimal
    interest: Decimal
    rate: Decimal
    ts: int
    ord_id: str = ""

    def to_okx(self) -> dict[str, Any]:
        return {"refId": str(self.ref_id), "ccy": self.ccy, "loan": plain(self.loan),
                "interest": plain(self.interest), "interestRate": plain(self.rate),
                "ts": str(self.ts)}


class RefIds:
    """Increasing ids shared by every account of one simulator (refIds and ordIds)."""

    __slots__ = ("_next",)

    def __init__(self, start: int = 2_000_000_000) -> None:
        self._next = start

    def __call__(self) -> int:
        self._next += 1
        return self._next


class _Record(Protocol):
    @property
    def ref_id(self) -> int: ...


_R = TypeVar("_R", bound=_Record)


def page(entries: Sequence[_R], after: int | None, before: int | None, limit: int) -> list[_R]:
    """OKX's paging over records with ascending ``ref_id``: newest first.

    ``after`` keeps records older than it, ``before`` newer than it. With only
    ``before``, the ``limit`` records just newer than it come back.
    """
    chosen = [
        e for e in entries
        if (after is None or e.ref_id < after) and (before is None or e.ref_id > before)
    ]
    chosen = chosen[:limit] if before is not None and after is None else chosen[-limit:]
    return chosen[::-1]
