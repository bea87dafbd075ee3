"""Logging for one run of ``okx-async``: ``-v``/``-vv``, and a line per retry on stderr.

The client logs each retry at INFO (``okx_async._pipeline``). At the default
verbosity the command line still says, once per attempt number, that it is
retrying, so a run against an unreachable host is never silent while it waits.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

#: The client's log of a retry: path, failure, next attempt number, seconds until then.
_PIPELINE = "okx_async._pipeline"
RETRY_MESSAGE = "%s failed (%s); attempt %d in %.2fs"
#: The client's log of a write whose outcome is unknown; the command reports it itself.
UNKNOWN_MESSAGE = "%s %s failed after it may have been executed (%s); not sent again"


def _not_reported_anyway(record: logging.LogRecord) -> bool:
    return record.msg != UNKNOWN_MESSAGE


class RetryNotice(logging.Handler):
    """Prints ``retrying ...`` on stderr for each retry the client logs.

    Only the first request to reach each attempt number is shown: a fan-out that
    meets the same failure sixteen times over says it once.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._shown: set[tuple[str, int]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg != RETRY_MESSAGE or not isinstance(record.args, tuple):
            return
        path, failure, attempt, delay = record.args
        if not isinstance(attempt, int) or not isinstance(delay, float):
            return
        if (str(path), attempt) in self._shown:
            return
        self._shown.add((str(path), attempt))
        print(
            f"retrying {path} (attempt {attempt} in {delay:.1f} s): {failure}",
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
    pipeline = logging.getLogger(_PIPELINE)
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(level)
    stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if level > logging.INFO:
        stream.addFilter(_not_reported_anyway)
    notice = RetryNotice() if level > logging.INFO else None
    saved = (root.level, pipeline.level)
    root.addHandler(stream)
    root.setLevel(level)
    if notice is not None:
        pipeline.addHandler(notice)
        pipeline.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(stream)
        if notice is not None:
            pipeline.removeHandler(notice)
        root.setLevel(saved[0])
        pipeline.setLevel(saved[1])
