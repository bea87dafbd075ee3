"""mypy --strict started as soon as the tests are collected, so it runs beside them.

It takes seconds of one core, most of it in a fresh clone with no cache; the tests
leave the second core of a two-core machine mostly idle, and sleep now and then.
``tests/conftest.py`` loads this module as a plugin; ``test_lint.py`` asks for the
result through the ``mypy_result`` fixture, which waits for it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

import attrs
import pytest

__all__ = ["CheckResult", "mypy_result"]

ROOT = Path(__file__).resolve().parent.parent
MYPY = [sys.executable, "-m", "mypy", "--strict"]
#: The test that reads the result: mypy starts only if it is among the selected tests.
USER = "test_lint.py"
_TIMEOUT = 300


@attrs.frozen
class CheckResult:
    """How a static check ended: its exit status and everything it printed."""

    returncode: int
    output: str


@attrs.define
class _Running:
    process: subprocess.Popen[bytes]
    output: IO[bytes]


_RUNNING = pytest.StashKey[_Running]()


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.path.name == USER for item in session.items):
        # A file, not a pipe: a pipe nobody reads would stall mypy once it fills up.
        output = tempfile.TemporaryFile(prefix="mypy-")  # noqa: SIM115 - closed at unconfigure
        process = subprocess.Popen(MYPY, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        session.config.stash[_RUNNING] = _Running(process, output)


def pytest_unconfigure(config: pytest.Config) -> None:
    running = config.stash.get(_RUNNING, None)
    if running is not None:
        if running.process.poll() is None:  # the run stopped early (-x, Ctrl+C)
            running.process.kill()
            running.process.wait()
        running.output.close()


@pytest.fixture
def mypy_result(request: pytest.FixtureRequest) -> CheckResult:
    """The result of ``mypy --strict`` over the project, waited for."""
    running = request.config.stash.get(_RUNNING, None)
    if running is None:  # collected some other way: run it here
        run = subprocess.run(MYPY, cwd=ROOT, capture_output=True, text=True,
                             timeout=_TIMEOUT, check=False)
        return CheckResult(run.returncode, run.stdout + run.stderr)
    # No timeout: Popen.wait(timeout) polls with time.sleep, which the guard against
    # real sleeping (real_time_guard.py) would count; a plain wait blocks in waitpid.
    returncode = running.process.wait()
    running.output.seek(0)
    return CheckResult(returncode, running.output.read().decode(errors="replace"))
