"""Logging for one run of ``okx-async``: ``-v``/``-vv``, and a line per retry on stderr.

The client logs each retry at INFO. At the default verbosity the command line
still says, once per attempt number, that it is retrying (through the client's
``RetryPolicy.on_retry``), so a run against an unreachable host is never silent
while it waits.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from ._retry import Retrying

#: The client's log of a write whose outcome is unknown; the command reports it itself.
UNKNOWN_MESSAGE = "%s %s failed after it may have been executed (%s); not sent again"


def _not_reported_anyway(record: logging.LogRecord) -> bool:
    return record.msg != UNKNOWN_MESSAGE


class RetryNotice:
    """The command's ``on_retry``: says on stderr that a call is retrying.

    Only the first request to reach each attempt number is shown: a fan-out that
    meets the same failure sixteen times over says it once.
    """

    def __init__(self) -> None:
        self._shown: set[tuple[str, int]] = set()

    def __call__(self, retry: Retrying) -> None:
        if (retry.path, retry.attempt) in self._shown:
            return
        self._shown.add((retry.path, retry.attempt))
        print(
            f"retrying {retry.path} (attempt {retry.attempt} in {retry.delay:.1f} s): "
            f"{retry.error}",
            file=sys.stderr, flush=True,
        )


@contextlib.contextmanager
def logging_for(verbosity: int) -> Iterator[None]:
    """Log to stderr at WARNING, INFO (``-v``) or DEBUG (``-vv``) for the ``with`` block.

    Handlers and levels are put back afterwards, so ``main()`` can run many times in
    one process (as the tests do) without stacking handlers.
    """
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    root = logging.getLogger()
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(level)
    stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if level > logging.INFO:
        stream.addFilter(_not_reported_anyway)
    saved = root.level
    root.addHandler(stream)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(stream)
        root.setLevel(saved)
