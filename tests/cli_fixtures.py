"""Running ``okx-async`` in-process (``main(argv)``), against real simulators and terminals.

- :func:`run` calls the command's ``main`` with captured stdout and stderr.
- :func:`simulator` serves a :class:`~okx_async.simulator.Simulator` over loopback HTTP
  from a thread of its own, so ``main``'s ``asyncio.run`` can reach it from this one.
- :func:`terminal` makes stdin a real pseudo-terminal with the given keystrokes typed.
- :func:`ctrl_c_when` delivers a real SIGINT to this process once a condition holds.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest

from okx_async import Credentials
from okx_async._cli import main
from okx_async.simulator import Simulator

#: Seconds a test waits for a condition it expects to hold soon.
PATIENCE = 5.0


@attrs.frozen
class Ran:
    """How one run of ``okx-async`` ended."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def after_banner(self) -> list[str]:
        """stderr's lines after the simulator's banner (all of them without one)."""
        lines = self.err_lines
        end = "The amounts are simulated, not from OKX."
        return lines[lines.index(end) + 1:] if end in lines else lines


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    """``okx-async ARGV...`` in this process."""
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def use_keys(monkeypatch: pytest.MonkeyPatch, credentials: Credentials) -> None:
    """Put ``credentials`` in the environment, as a user exports them."""
    monkeypatch.setenv("OKX_API_KEY", credentials.api_key)
    monkeypatch.setenv("OKX_SECRET_KEY", credentials.secret_key)
    monkeypatch.setenv("OKX_PASSPHRASE", credentials.passphrase)


@contextmanager
def simulator(**options: Any) -> Iterator[Simulator]:
    """A simulator over loopback HTTP, served by an event loop in its own thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="simulator", daemon=True)
    thread.start()
    sim = Simulator(**options)
    try:
        asyncio.run_coroutine_threadsafe(sim.start(), loop).result(PATIENCE)
        yield sim
    finally:
        asyncio.run_coroutine_threadsafe(sim.close(), loop).result(PATIENCE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(PATIENCE)
        loop.close()


@contextmanager
def terminal(monkeypatch: pytest.MonkeyPatch, typed: bytes) -> Iterator[Callable[[], bytes]]:
    """stdin is a pseudo-terminal on which ``typed`` was already typed (``b"y\\n"``).

    Ctrl-D (``b"\\x04"``) at the start of a line is end of input, as on any terminal.
    The context gives a function that returns what no one has read of it yet.
    """
    controller, tty = os.openpty()
    os.write(controller, typed)
    stdin = open(tty, encoding="utf-8", closefd=True)  # noqa: SIM115 - closed below
    monkeypatch.setattr(sys, "stdin", stdin)

    def unread() -> bytes:
        left = b""
        while select.select([tty], [], [], 0)[0]:
            left += os.read(tty, 1024)
        return left

    try:
        yield unread
    finally:
        stdin.close()
        os.close(controller)


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt here, and a program started meanwhile may take it.

    A shell that starts the suite in the background (``pytest &`` without job control,
    ``nohup``) leaves SIGINT ignored, and an ignored signal stays ignored across
    ``exec``; a terminal's Ctrl-C, which these tests play, is never ignored.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def ctrl_c_when(condition: Callable[[], bool]) -> Iterator[threading.Event]:
    """Send SIGINT to this process, as Ctrl-C does, as soon as ``condition()`` holds.

    The returned event is set once the signal was sent. Use it only while the
    command is certain to be running then (a request held by the simulator).
    """
    sent = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + PATIENCE
        while not stop.is_set() and time.monotonic() < deadline:
            if condition():
                os.kill(os.getpid(), signal.SIGINT)
                sent.set()
                return
            stop.wait(0.002)

    watcher = threading.Thread(target=watch, name="ctrl-c")
    with interruptible():
        watcher.start()
        try:
            yield sent
        finally:
            stop.set()
            watcher.join()


def holding(sim: Simulator, endpoint: str) -> Callable[[], bool]:
    """Whether ``sim`` took up the scripted fault of ``endpoint`` (a Flexible Loan name).

    Faults are taken when a request arrives, before a hold: after that, the request is
    in flight for as long as its hold.
    """
    path = "/api/v5/finance/flexible-loan/" + endpoint
    return lambda: path not in sim.pending_faults()
