"""One parsed request, and the parameter checks the endpoint handlers share.

A check that fails raises :class:`Answered` with OKX's answer (``51000 Parameter
{name} error`` for a bad parameter); :func:`~._loan.answer` turns it into the reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from ._answers import NO_PERMISSION, Answer, bad_param
from ._demo import SimKey

_MAX_PAGE: Final = 100


@attrs.frozen
class Call:
    """One authenticated request: who sent it, its query or JSON body, and when."""

    key: SimKey
    query: Mapping[str, str]
    body: Mapping[str, Any]
    now_ms: int

    @property
    def fields(self) -> Mapping[str, Any]:
        """The body's fields, else the query's."""
        return {**self.query, **self.body}


class Answered(Exception):
    """A handler's answer, given before the handler's end. Never leaves the simulator."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer


def need_trade(call: Call) -> None:
    """Refuse a key without the Trade permission with 50120."""
    if "trade" not in call.key.perm.split(","):
        raise Answered(NO_PERMISSION)


def text(fields: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    """A non-empty string parameter; None if absent and not required."""
    value = fields.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise Answered(bad_param(name))
    return value


def amount(fields: Mapping[str, Any], name: str, *, label: str | None = None) -> Decimal:
    """A required positive decimal string; a refusal names ``label`` if given."""
    value = text(fields, name, required=True)
    try:
        number = Decimal(value or "")
    except InvalidOperation:
        raise Answered(bad_param(label or name)) from None
    if not number.is_finite() or number <= 0:
        raise Answered(bad_param(label or name))
    return number


def number(fields: Mapping[str, Any], name: str) -> int | None:
    """An optional non-negative integer string."""
    value = text(fields, name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise Answered(bad_param(name))
    return int(value)


def page_args(fields: Mapping[str, Any]) -> tuple[int | None, int | None, int]:
    """``after``, ``before`` and ``limit`` (1-100, default 100) of a paged read."""
    limit = number(fields, "limit")
    if limit is not None and not 1 <= limit <= _MAX_PAGE:
        raise Answered(bad_param("limit"))
    return number(fields, "after"), number(fields, "before"), limit or _MAX_PAGE
