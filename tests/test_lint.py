"""Static checks run with the suite, so the one test command keeps them clean too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from static_checks import CheckResult

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_is_clean(mypy_result: CheckResult) -> None:
    # Started beside the other tests as soon as they were collected (static_checks.py).
    assert mypy_result.returncode == 0, mypy_result.output


def test_ruff_is_clean() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_package_ships_py_typed() -> None:
    assert (ROOT / "okx_async" / "py.typed").is_file()
