"""The exit codes of ``okx-async``, and the one line that says why a command failed.

Every subcommand ends with one of these codes (docs/cli.md has the table):

- ``OK`` (0): done.
- ``FAILED`` (1): OKX or the network failed (an error code, no answer, a connection
  the client gave up on), or part of a batch failed (the rest is printed), or what
  was asked for is not there.
- ``REFUSED`` (2): nothing was sent: bad input, flags that do not go together,
  missing keys or extra, an unusable Redis, or a write that was not confirmed.
- ``UNKNOWN`` (3): a write was sent and its outcome is unknown: reconcile first.
- ``INTERRUPTED`` (130): Ctrl-C.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from ._errors import (
    OkxAPIError,
    OkxAuthError,
    OkxClientClosedError,
    OkxConfigError,
    OkxConnectError,
    OkxError,
    OkxLimiterUnavailable,
    OkxNoOrderError,
    OkxUnknownOutcomeError,
)

OK = 0
FAILED = 1
REFUSED = 2
UNKNOWN = 3
INTERRUPTED = 130

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Refused(Exception):
    """Found before sending: the command does nothing and exits with ``REFUSED``.

    ``hint`` is a second line, for what to do about it.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(Refused):
    """Flags that do not go together: refused with the subcommand's usage."""


class NotFound(Exception):
    """OKX answered, and what was asked for is not there (``FAILED``)."""


#: What to do about each authentication code OKX documents.
_AUTH_FIXES = {
    "50101": "the key belongs to the other environment: add --demo for a demo-trading "
             "key, or leave it out for a live one",
    "50102": "this machine's clock is far off OKX's: set it right",
    "50103": "check OKX_API_KEY",
    "50104": "check OKX_PASSPHRASE",
    "50105": "check OKX_PASSPHRASE",
    "50110": "this IP address is not on the key's allow list: add it on OKX",
    "50111": "check OKX_API_KEY",
    "50113": "check OKX_SECRET_KEY",
    "50119": "check OKX_API_KEY: OKX knows no such key",
    "50120": "the key lacks a permission this command needs (borrow, repay and "
             "adjust-collateral need Trade)",
}
_AUTH_DEFAULT = "check OKX_API_KEY, OKX_SECRET_KEY and OKX_PASSPHRASE"


#: What a command may end with on purpose; anything else is a bug and keeps its traceback.
EXPECTED = (OkxError, Refused, NotFound, ValueError, TypeError, ImportError)


def exit_code(exc: BaseException) -> int:
    """The exit code for a command that ended with ``exc``."""
    if isinstance(exc, (Refused, OkxConfigError, ValueError, TypeError, ImportError)):
        # The library checks every argument before sending (TypeError/ValueError).
        return REFUSED
    if isinstance(exc, OkxUnknownOutcomeError):
        return UNKNOWN
    return FAILED


def describe(exc: BaseException, base_url: str = "") -> tuple[str, str]:
    """The error line for ``exc``, and a hint line (or ``""``)."""
    if isinstance(exc, OkxAuthError):
        fix = _AUTH_FIXES.get(exc.code, _AUTH_DEFAULT)
        reason = f"{exc.code} {exc.msg.rstrip('.')}".strip()
        return f"OKX refused the API key ({reason}): {fix}", ""
    if isinstance(exc, OkxConnectError):
        where = f" {base_url}" if base_url else ""
        return (f"cannot connect to{where} ({exc}): check the network, or --region/--base-url",
                "")
    if isinstance(exc, OkxNoOrderError):
        return str(exc), "okx-async loan-info lists your loan orders"
    if isinstance(exc, Refused):
        return str(exc), exc.hint
    if isinstance(exc, OkxConfigError):
        return str(exc), ""
    if isinstance(exc, (OkxError, NotFound, ValueError, TypeError, ImportError)):
        return str(exc) or type(exc).__name__, ""
    return f"{type(exc).__name__}: {exc}", ""


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` will strike every request alike, so a fan-out should stop at once."""
    return isinstance(
        exc, (OkxAuthError, OkxConnectError, OkxLimiterUnavailable, OkxClientClosedError)
    )


def error_fields(exc: BaseException) -> dict[str, str | None]:
    """An error as the JSON output carries it: its type, OKX's code if any, the message."""
    return {
        "error": type(exc).__name__,
        "code": exc.code if isinstance(exc, OkxAPIError) else None,
        "message": str(exc),
    }


OnResult = Callable[[K, object], None]


async def stop_on_fatal(
    fan_out: Callable[[OnResult[K]], Awaitable[T]], on_result: OnResult[K] | None = None
) -> T:
    """Run ``fan_out(on_result)``, cancelling it at the first fatal failure, which is raised.

    A wrong secret or an unreachable host fails every item the same way: one line says
    so, instead of a table of identical errors after every item has been tried.
    """
    fatal: list[BaseException] = []

    def seen(key: K, outcome: object) -> None:
        if on_result is not None:
            on_result(key, outcome)
        if isinstance(outcome, BaseException) and is_fatal(outcome) and not fatal:
            fatal.append(outcome)
            task.cancel()

    task = asyncio.ensure_future(fan_out(seen))
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if fatal and (current is None or not current.cancelling()):
            raise fatal[0] from None
        raise
