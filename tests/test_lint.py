"""Static checks run with the suite, so the one test command keeps them clean too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [["mypy", "--strict"], ["ruff", "check", "."]],
    ids=["mypy", "ruff"],
)
def test_static_check_is_clean(command: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_package_ships_py_typed() -> None:
    assert (ROOT / "okx_async" / "py.typed").is_file()
