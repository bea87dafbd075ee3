"""``python -m benchmarks``: where it writes, and what it says without the bench extra."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Runs ``python -m benchmarks ARGS`` with the bench extra's packages made unimportable.
WITHOUT_EXTRA = """
import importlib.abc, runpy, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("ccxt", "okx", "psutil", "matplotlib"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
sys.argv = ["benchmarks", *sys.argv[1:]]
runpy.run_module("benchmarks", run_name="__main__")
"""


def _benchmarks(*args: str, without_extra: bool = False) -> subprocess.CompletedProcess[str]:
    command = ([sys.executable, "-c", WITHOUT_EXTRA, *args] if without_extra
               else [sys.executable, "-m", "benchmarks", *args])
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_help_needs_no_bench_extra() -> None:
    done = _benchmarks("--help", without_extra=True)
    assert done.returncode == 0
    assert "--publish" in done.stdout and "--output" in done.stdout


def test_a_run_without_the_bench_extra_names_the_extra_instead_of_a_traceback() -> None:
    done = _benchmarks("--quick", "--only", "codec", without_extra=True)
    assert done.returncode == 2
    assert "pip install -e '.[bench]'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(importlib.util.find_spec("ccxt") is None, reason="needs the bench extra")
def test_a_run_writes_only_where_it_is_told(tmp_path: Path) -> None:
    tracked = ROOT / "benchmarks" / "results" / "latest.json"
    before = tracked.read_bytes()
    done = _benchmarks("--quick", "--only", "codec", "--output", str(tmp_path))
    assert done.returncode == 0, done.stderr
    written = json.loads((tmp_path / "results.json").read_text())
    assert {r["client"] for r in written["codec"]} == {"okx-async", "ccxt", "python-okx"}
    assert tracked.read_bytes() == before
