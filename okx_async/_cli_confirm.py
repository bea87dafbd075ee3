"""The yes/no question before a write: plain text, and Ctrl-C or Ctrl-D end it at once.

The question is asked from inside the command's event loop, once everything else
was checked. While it waits for a line, Python's own Ctrl-C handler is back in
place: asyncio's would only cancel the command after Enter, since reading the
terminal blocks the loop. Nothing else runs meanwhile: the write has not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from ._cli_exit import Refused


def can_ask() -> bool:
    """Whether a person can answer: stdin is a terminal."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return False


def ask(question: str) -> bool:
    """Print ``question [y/N]`` on stderr and read the answer; only ``y``/``yes`` is yes.

    Ctrl-D (end of input) is no. Ctrl-C raises ``KeyboardInterrupt`` at once.
    """
    with _ctrl_c_interrupts():
        task = asyncio.current_task() if _in_loop() else None
        if task is not None and task.cancelling():
            raise KeyboardInterrupt  # Ctrl-C came just before Python's handler was back
        sys.stderr.write(f"{question} [y/N] ")
        sys.stderr.flush()
        try:
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            sys.stderr.write("\n")  # end the prompt's line; the shell's comes next
            raise
    if not answer:
        sys.stderr.write("\n")  # the terminal did not echo a newline for Ctrl-D
        return False
    return answer.strip().lower() in ("y", "yes")


def confirm(question: str, what: str) -> None:
    """Ask ``question``; raise :class:`Refused` unless the answer is yes."""
    if not ask(question):
        raise Refused(f"not confirmed: the {what} was not sent")


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@contextlib.contextmanager
def _ctrl_c_interrupts() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
