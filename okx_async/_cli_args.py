"""Argument types of the command line: each checks one value as it is parsed.

A bad value is refused by argparse with the command's usage and the flag's name
(``argument --with: ...``), before any simulator, Redis or OKX is used. The checks
are the library's own (``_params.py``), worded for the flag instead of the Python
parameter.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

from ._endpoints import HISTORY_TYPES
from ._params import MAX_PAGE, check_amount, check_ccy, check_cl_ord_id, check_id

#: The highest TCP port.
_MAX_PORT = 65535


def _refuse(exc: Exception) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(str(exc))


def ccy(text: str) -> str:
    """A currency code as OKX spells it: upper case letters and digits (``USDT``, ``BTC``)."""
    try:
        check_ccy(text, "currency code")
    except ValueError as exc:
        raise _refuse(exc) from None
    if text != text.upper():
        # OKX answers 51000 for "usdt": say so before sending rather than after.
        raise argparse.ArgumentTypeError(
            f"{text!r}: OKX currency codes are upper case ({text.upper()})"
        )
    return text


def amount(text: str) -> Decimal:
    """A positive amount, kept exactly as typed (``0.05``), never a float."""
    try:
        return Decimal(check_amount(text, "amount"))
    except ValueError as exc:
        raise _refuse(exc) from None


def ccy_amount(text: str) -> tuple[str, Decimal]:
    """``CCY=AMOUNT``, as ``--with`` and ``--collateral`` take it."""
    code, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"takes CCY=AMOUNT, e.g. BTC=0.1; got {text!r:.40}")
    checked = ccy(code)
    try:
        return checked, Decimal(check_amount(value, f"{checked} amount"))
    except ValueError as exc:
        raise _refuse(exc) from None


def _checked(check: Callable[[object, str], str], what: str) -> Callable[[str], str]:
    """An argument type from one of the library's checks, its message naming ``what``."""

    def argument(text: str) -> str:
        try:
            return check(text, what)
        except ValueError as exc:
            raise _refuse(exc) from None

    return argument


#: A loan order's ID: digits, as ``okx-async loan-info`` lists them.
ord_id = _checked(check_id, "order ID")
#: An OKX user ID: digits (``uid`` in the account's settings).
user_id = _checked(check_id, "user ID")
#: An idempotency key of borrow or repay.
cl_ord_id = _checked(check_cl_ord_id, "clOrdId")


def history_type(text: str) -> str:
    """A loan-history event type that OKX lists."""
    if text not in HISTORY_TYPES:
        raise argparse.ArgumentTypeError(
            f"{text!r:.40} is not a loan-history type; choose from {', '.join(HISTORY_TYPES)}"
        )
    return text


def count(text: str) -> int:
    """A number of records: 1 or more."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def retries(text: str) -> int:
    """How many times a failed request may be sent again: 0 or more."""
    value = _int(text)
    if not 0 <= value <= 20:
        raise argparse.ArgumentTypeError(f"must be from 0 to 20, got {value}")
    return value


def port(text: str) -> int:
    """A TCP port, 0 for any free one."""
    value = _int(text)
    if not 0 <= value <= _MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"must be from 0 to {_MAX_PORT} (0 picks a free port), got {value}"
        )
    return value


def seconds(text: str) -> float:
    """A positive duration in seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r:.40}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def since(text: str) -> datetime:
    """An ISO date or time; UTC unless it names its zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r:.40}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def base_url(text: str) -> str:
    """``http(s)://HOST[:PORT]``, where an OKX-compatible API answers."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"{text!r:.60} is not a base URL such as https://www.okx.com or http://127.0.0.1:8080"
        )
    return text.rstrip("/")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r:.40}") from None


def page_size(limit: int | None) -> int:
    """The page size that fetches ``limit`` records in the fewest pages."""
    return min(limit or MAX_PAGE, MAX_PAGE)
