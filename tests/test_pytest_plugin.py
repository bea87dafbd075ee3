"""The simulator's pytest plugin as users get it: loaded by its entry point in every session.

The README's example itself is run in a fresh project by test_docs_snippets.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USES_THE_FIXTURE = """\
import asyncio

import pytest


@pytest.mark.asyncio
async def test_bot(okx_simulator):
    assert okx_simulator.base_url


@pytest.mark.okx_virtual
async def test_on_virtual_time_without_pytest_asyncio(okx_virtual_simulator):
    await asyncio.sleep(60)
    assert asyncio.get_running_loop().time() == 60.0


def test_unrelated():
    assert True
"""

#: A fresh project has no Hypothesis; importing its plugin is most of pytest's start.
NO_HYPOTHESIS = ("-p", "no:hypothesispytest")

#: Shadows the installed package, as in an environment that never installed it.
NOT_INSTALLED = (
    "raise ModuleNotFoundError(\"No module named 'pytest_asyncio'\", name='pytest_asyncio')\n"
)


def test_without_pytest_asyncio_other_tests_still_run_and_the_fixture_names_the_extra(
    tmp_path: Path,
) -> None:
    shadow = tmp_path / "shadow" / "pytest_asyncio"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(NOT_INSTALLED)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_bot.py").write_text(USES_THE_FIXTURE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(shadow.parent)
    run = subprocess.run(
        # pytest-asyncio's own entry point would fail to import: block it, as if absent.
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio",
         *NO_HYPOTHESIS],
        cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert "2 passed" in run.stdout, run.stdout + run.stderr
    assert "okx_simulator fixture needs pytest-asyncio: pip install 'okx-async[pytest]'" in (
        run.stdout
    ), run.stdout


ON_VIRTUAL_TIME = """\
import asyncio

import pytest
import pytest_asyncio

from okx_async.simulator import VirtualTimeLoop


@pytest.mark.okx_virtual(limit=5, window=2.0)
async def test_marker_with_options(okx_virtual_simulator):
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    async with okx_virtual_simulator.client() as okx:
        await asyncio.gather(*(okx.loan_info() for _ in range(11)))
    assert loop.time() >= 4.0
    assert not okx_virtual_simulator.rejections()


async def test_the_fixture_alone_puts_a_test_on_virtual_time(okx_virtual_simulator):
    await asyncio.sleep(3600)
    assert asyncio.get_running_loop().time() == 3600.0


@pytest.mark.okx_virtual
@pytest.mark.asyncio
@pytest.mark.parametrize("n", [1, 2])
async def test_next_to_the_asyncio_marker_and_parametrized(n):
    assert isinstance(asyncio.get_running_loop(), VirtualTimeLoop)


class TestInAClass:
    @pytest.mark.okx_virtual(busy_rate=1.0)
    async def test_options_reach_the_simulator(self, okx_virtual_simulator):
        from okx_async import OkxServerBusyError, RetryPolicy
        async with okx_virtual_simulator.client(retry=RetryPolicy.disabled()) as okx:
            with pytest.raises(OkxServerBusyError):
                await okx.loan_info()


@pytest.mark.asyncio
async def test_others_stay_on_a_real_loop():
    assert not isinstance(asyncio.get_running_loop(), VirtualTimeLoop)


@pytest.mark.okx_virtual
async def test_a_failure_on_virtual_time_fails():
    await asyncio.sleep(10)
    assert False, "failed at virtual second 10"


@pytest_asyncio.fixture
async def made_on_another_loop():
    yield asyncio.get_running_loop()


@pytest.mark.okx_virtual
async def test_an_async_fixture_is_refused(made_on_another_loop):
    pass
"""


def test_virtual_time_tests_run_in_a_fresh_project(tmp_path: Path) -> None:
    # In pytest-asyncio's default strict mode; this suite runs its own in auto mode.
    (tmp_path / "test_bot.py").write_text(ON_VIRTUAL_TIME)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *NO_HYPOTHESIS,
         "-o", "asyncio_default_fixture_loop_scope=function"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    out = run.stdout + run.stderr
    assert "2 failed, 6 passed" in run.stdout, out
    assert "failed at virtual second 10" in out
    assert "the async fixture(s) made_on_another_loop ran on another event loop" in out
    assert "not an async function" not in out  # pytest-asyncio left the virtual tests alone
