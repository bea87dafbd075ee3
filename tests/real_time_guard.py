"""A pytest plugin that fails a test which sleeps in real time for longer than it says why.

Sleeping is measured, not guessed from the source (which cannot tell a sleep on a
virtual loop from one on a real loop): a real event loop's idle time until a timer
(``asyncio.sleep``, a limiter's wait, a timeout running out), plus every
``time.sleep``. Waiting for I/O (a socket, a subprocess, a thread) is not
sleeping, and a :class:`~okx_async.simulator.VirtualTimeLoop` never sleeps at all.

A test that sleeps more than ``real_time_limit`` seconds (0.5 by default, an ini
option) fails at teardown unless it carries ``@pytest.mark.real_time("why")``, on
the test, its class or its module. Load it with ``-p real_time_guard`` or list it
in ``pytest_plugins``.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
import time
from collections.abc import Generator
from typing import SupportsIndex

import pytest

MARKER = "real_time"
LIMIT_OPTION = "real_time_limit"


class _Meter:
    """Real seconds slept since the last reset, from every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.slept = 0.0
        self.active = False

    def add(self, seconds: float) -> None:
        if self.active:
            with self._lock:
                self.slept += seconds

    def reset(self) -> None:
        with self._lock:
            self.slept = 0.0


_meter = _Meter()


class _MeteredSelector(selectors.DefaultSelector):
    """Counts the time a select waited for a timer: it timed out with no I/O ready."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0:
            return super().select(timeout)
        started = time.monotonic()
        events = super().select(timeout)
        if not events:
            _meter.add(time.monotonic() - started)
        return events


class MeteredLoop(asyncio.SelectorEventLoop):
    """The standard selector loop, with its sleeping counted."""

    def __init__(self) -> None:
        super().__init__(_MeteredSelector())


class _MeteredPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return MeteredLoop()


_sleep = time.sleep


def _metered_sleep(seconds: float | SupportsIndex) -> None:
    """``time.sleep``, counted. (Its audit event only exists from Python 3.12.)"""
    _meter.add(float(seconds))
    _sleep(seconds)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(LIMIT_OPTION, "real seconds a test may sleep without @pytest.mark.real_time",
                  default="0.5")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(why): this test sleeps in real time on purpose; say why",
    )
    # Every loop made through the policy is metered: pytest-asyncio's and asyncio.run()'s.
    config.stash[_previous_policy] = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(_MeteredPolicy())
    # Before the test modules are imported, so a ``from time import sleep`` gets it too.
    time.sleep = _metered_sleep


def pytest_unconfigure(config: pytest.Config) -> None:
    time.sleep = _sleep
    asyncio.set_event_loop_policy(config.stash.get(_previous_policy, None))


_previous_policy = pytest.StashKey[asyncio.AbstractEventLoopPolicy]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # From the first fixture set up for the test (a module's, for its first test)...
    _meter.reset()
    _meter.active = True


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        # ...to the last one torn down after it.
        _meter.active = False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "teardown" and report.passed:
        complaint = _complaint(item)
        if complaint is not None:
            report.outcome = "failed"
            report.longrepr = complaint
    return report


def _complaint(item: pytest.Item) -> str | None:
    """Why the test's real sleeping fails it, if it does."""
    limit = float(item.config.getini(LIMIT_OPTION))
    marker = item.get_closest_marker(MARKER)
    if marker is not None:
        if not (marker.args and str(marker.args[0]).strip()):
            return f'say why it sleeps: @pytest.mark.{MARKER}("...")'
        return None
    if _meter.slept > limit:
        return (
            f"{item.nodeid} slept {_meter.slept:.2f} s in real time (more than {limit} s): "
            "move it to virtual time (@pytest.mark.okx_virtual, run_virtual), or mark it "
            f'@pytest.mark.{MARKER}("why")'
        )
    return None
