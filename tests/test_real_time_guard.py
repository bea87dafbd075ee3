"""The guard against real sleeping in tests (real_time_guard.py), run on a sample project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Each sleep is over the limit the sample runs with (0.05 s), and far under a second.
SAMPLE = """\
import asyncio
import sys
import threading
import time

import pytest

from okx_async.simulator import run_virtual


async def test_fails_asyncio_sleep():
    await asyncio.sleep(0.08)


def test_fails_time_sleep():
    time.sleep(0.08)


async def test_fails_short_sleeps_adding_up():
    for _ in range(8):
        await asyncio.sleep(0.01)


def test_fails_asyncio_run_in_a_thread():
    worker = threading.Thread(target=asyncio.run, args=(asyncio.sleep(0.08),))
    worker.start()
    worker.join()


@pytest.fixture
def sleeps_at_teardown():
    yield
    time.sleep(0.08)


def test_fails_a_fixtures_sleep(sleeps_at_teardown):
    pass


@pytest.mark.real_time("")
def test_fails_a_marker_without_a_reason():
    pass


@pytest.mark.real_time("a loopback round trip, on purpose")
async def test_passes_marked():
    await asyncio.sleep(0.08)


async def test_passes_short():
    await asyncio.sleep(0.01)


def test_passes_virtual_time():
    run_virtual(lambda sim: asyncio.sleep(3600))


async def test_passes_waiting_for_a_subprocess():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(0.1)"
    )
    await process.wait()
"""


def test_the_guard_fails_unexplained_real_sleeps_and_only_those(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        # No Hypothesis plugin: the sample needs none, and importing it is most of the start.
        [sys.executable, "-m", "pytest", "-q", "-rE", "-p", "no:cacheprovider",
         "-p", "no:hypothesispytest",
         "-p", "real_time_guard", "-o", "real_time_limit=0.05", "-o", "asyncio_mode=auto",
         "-o", "asyncio_default_fixture_loop_scope=function"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    out = run.stdout + run.stderr
    failed = set(re.findall(r"^ERROR test_sample\.py::(\w+)", run.stdout, re.MULTILINE))
    assert failed == {
        "test_fails_asyncio_sleep", "test_fails_time_sleep", "test_fails_short_sleeps_adding_up",
        "test_fails_asyncio_run_in_a_thread", "test_fails_a_fixtures_sleep",
        "test_fails_a_marker_without_a_reason",
    }, out
    assert "10 passed, 6 errors" in run.stdout, out
    assert "slept 0.08 s in real time (more than 0.05 s)" in out
    assert "say why it sleeps" in out
