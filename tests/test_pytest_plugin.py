"""The simulator's pytest plugin as users get it: loaded by its entry point in every session.

The README's example itself is run in a fresh project by test_docs_snippets.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USES_THE_FIXTURE = """\
import pytest


@pytest.mark.asyncio
async def test_bot(okx_simulator):
    assert okx_simulator.base_url


def test_unrelated():
    assert True
"""

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
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert "1 passed" in run.stdout, run.stdout + run.stderr
    assert "okx_simulator fixture needs pytest-asyncio: pip install 'okx-async[pytest]'" in (
        run.stdout
    ), run.stdout
