"""Parameter checks: each turns a Python argument into its wire form, or raises.

They run before any request, so bad input costs no rate-limit budget and never
reaches OKX. A check raises ``TypeError`` for a value of the wrong type and
``ValueError`` for a value of the right type that OKX would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

# Letters and digits, optionally joined by '.', '-' or '_' (as in "USDC.E"); no spaces,
# no URL syntax, so a code can go into the query unescaped and be signed as sent.
_CCY = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
_MAX_CCY_LEN = 32
_MAX_ID_LEN = 32
#: OKX's page size bound for the history endpoints.
MAX_PAGE = 100

#: ``check(value, name) -> wire value``; ``name`` is the Python keyword, for messages.
Check = Callable[[Any, str], Any]


@attrs.frozen
class Param:
    """One parameter of an endpoint: its name on the wire and its check.

    ``into`` names the wire object the parameter goes inside (``loanData`` holds a
    borrow's ``ccy`` and ``amt``). A check that returns ``None`` leaves the parameter
    out (``e_mode=False`` sends no ``eMode``).
    """

    wire: str
    check: Check
    required: bool = False
    into: str | None = None


def check_ccy(ccy: object, name: str = "ccy") -> str:
    """Return ``ccy`` if it is a plausible OKX currency code; raise before any request."""
    if not isinstance(ccy, str):
        raise TypeError(f"{name} must be a str, not {type(ccy).__name__}")
    if not ccy:
        raise ValueError(f"{name} must not be empty")
    if len(ccy) > _MAX_CCY_LEN or not _CCY.fullmatch(ccy):
        raise ValueError(f"{name} {ccy!r:.40} is not an OKX currency code")
    return ccy


def check_amount(value: object, name: str = "amount") -> str:
    """A positive, finite amount as OKX wants it: a plain decimal string, never ``1E+2``.

    ``Decimal``, ``int`` and numeric ``str`` are accepted. ``float`` is refused: it
    cannot hold most decimal amounts exactly, and a collateral amount must be exact.
    """
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"{name} must be a Decimal, int or str, not {type(value).__name__}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"{name} {value!r:.40} is not a number") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r:.40}")
    return plain_amount(amount, name)


def plain_amount(value: Decimal, name: str = "amount") -> str:
    """A finite ``Decimal`` as plain decimal text, as OKX reads amounts: never ``1E+2``."""
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number, got {value!r:.40}")
    return format(value, "f")


def check_id(value: object, name: str) -> str:
    """An OKX id (``refId``, ``ordId``): decimal digits, as a str or a non-negative int."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must not be negative")
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str of digits, not {type(value).__name__}")
    if not value.isascii() or not value.isdigit() or len(value) > _MAX_ID_LEN:
        raise ValueError(f"{name} {value!r:.40} is not an OKX id (digits only)")
    return value


def check_limit(value: object, name: str = "limit") -> str:
    """A page size: an int from 1 to 100."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 1 <= value <= MAX_PAGE:
        raise ValueError(f"{name} must be from 1 to {MAX_PAGE}, got {value}")
    return str(value)


def one_of(*choices: str) -> Check:
    """A check that accepts exactly one of ``choices``."""

    def check(value: object, name: str = "value") -> str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r:.40}")
        return value

    return check


def check_collateral(value: object, name: str = "sup_collateral") -> list[dict[str, str]]:
    """Collateral to add hypothetically: ``{ccy: amount}`` or ``(ccy, amount)`` pairs.

    Returns OKX's ``[{"ccy": ..., "amt": ...}]``; each currency may appear once.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a mapping or pairs of (ccy, amount), not a string")
    pairs: Iterable[Any]
    if isinstance(value, Mapping):
        pairs = value.items()
    elif isinstance(value, Iterable):
        pairs = value
    else:
        raise TypeError(f"{name} must be a mapping or pairs of (ccy, amount)")
    wire: list[dict[str, str]] = []
    seen: set[str] = set()
    for pair in pairs:
        ccy_amt: object = pair
        if hasattr(pair, "ccy") and hasattr(pair, "amt"):  # a CurrencyAmount
            ccy_amt = (getattr(pair, "ccy"), getattr(pair, "amt"))  # noqa: B009
        if not isinstance(ccy_amt, tuple) or len(ccy_amt) != 2:
            raise TypeError(f"each item of {name} must be a (ccy, amount) pair")
        ccy = check_ccy(ccy_amt[0], f"{name} ccy")
        if ccy in seen:
            raise ValueError(f"{name} names {ccy} twice")
        seen.add(ccy)
        wire.append({"ccy": ccy, "amt": check_amount(ccy_amt[1], f"{name} amount of {ccy}")})
    if not wire:
        raise ValueError(f"{name} must not be empty; pass None for no extra collateral")
    return wire


def wire_params(params: Mapping[str, Param], given: Mapping[str, object]) -> dict[str, Any]:
    """Check every argument of one call; return OKX's names and wire values, Nones left out."""
    unknown = set(given) - set(params)
    if unknown:
        raise TypeError(f"unexpected parameter(s): {', '.join(sorted(unknown))}")
    wire: dict[str, Any] = {}
    for name, param in params.items():
        value = given.get(name)
        if value is None:
            if param.required:
                raise TypeError(f"{name} is required")
            continue
        checked = param.check(value, name)
        if checked is None:
            continue
        target = wire if param.into is None else wire.setdefault(param.into, {})
        target[param.wire] = checked
    return wire


def matching(pattern: str, what: str) -> Check:
    """A check that accepts a ``str`` matching ``pattern`` whole; ``what`` says what it is."""
    compiled = re.compile(pattern)

    def check(value: object, name: str = "value") -> str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")
        if not compiled.fullmatch(value):
            raise ValueError(f"{name} {value!r:.40} is not {what}")
        return value

    return check


#: An idempotency key. OKX's trade client ids are letters and digits; its Flexible
#: Loan pages show ``-`` in their examples, so ``-`` and ``_`` are let through too.
check_cl_ord_id = matching(
    r"[A-Za-z0-9_-]{1,32}", "a client id: 1 to 32 letters, digits, '-' or '_'"
)
#: A loan-history type: one OKX lists, or one it added since (OKX adds types).
check_event_type = matching(r"[a-z][a-z0-9_]{0,63}", "an OKX event type (e.g. 'borrowed')")


def check_flag(value: object, name: str) -> str | None:
    """A bool sent as OKX's ``"1"`` when true, and left out when false (OKX's default)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return "1" if value else None
