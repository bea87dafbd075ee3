"""What an installed okx-async promises about itself: licence, version, public names.

The "without redis" checks run in a fresh interpreter where ``import redis`` fails as
it does when the package is not installed (``sys.modules["redis"] = None``, Python's
documented way to block an import), so the package is imported from scratch there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

import okx_async

ROOT = Path(__file__).resolve().parent.parent

#: Runs in a fresh interpreter without redis, and prints what a user would see.
_WITHOUT_REDIS = r"""
import json, sys
sys.modules["redis"] = None  # as if the redis extra were not installed

seen = {}
namespace = {}
try:
    exec("from okx_async import *", namespace)
    seen["star"] = sorted(n for n in namespace if not n.startswith("__"))
except BaseException as exc:
    seen["star"] = f"{type(exc).__name__}: {exc}"

import okx_async

seen["all"] = list(okx_async.__all__)
try:
    seen["hasattr"] = hasattr(okx_async, "RedisLimiter")
except BaseException as exc:
    seen["hasattr"] = f"{type(exc).__name__}: {exc}"
try:
    seen["getattr_default"] = repr(getattr(okx_async, "RedisLimiter", None))
except BaseException as exc:
    seen["getattr_default"] = f"{type(exc).__name__}: {exc}"
for name, statement in [
    ("from_import", "from okx_async import RedisLimiter"),
    ("attribute", "import okx_async; okx_async.RedisLimiter"),
]:
    try:
        exec(statement, {})
        seen[name] = "no error"
    except BaseException as exc:
        seen[name] = [type(exc).__name__, str(exc)]
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def without_redis() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_REDIS], capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)
    return seen


def test_star_import_works_without_the_redis_extra(without_redis: dict[str, Any]) -> None:
    star = without_redis["star"]
    assert isinstance(star, list), star
    assert "OkxClient" in star and "MemoryLimiter" in star
    assert "RedisLimiter" not in star


def test_all_names_only_what_can_be_imported(without_redis: dict[str, Any]) -> None:
    assert "RedisLimiter" not in without_redis["all"]
    # ...and, where redis is installed (this suite's venv), every name it lists imports.
    assert "RedisLimiter" in okx_async.__all__
    for name in okx_async.__all__:
        assert getattr(okx_async, name) is not None, name


def test_hasattr_and_getattr_say_absent_without_the_redis_extra(
    without_redis: dict[str, Any],
) -> None:
    assert without_redis["hasattr"] is False
    assert without_redis["getattr_default"] == "None"


def test_importing_redis_limiter_without_the_extra_names_the_fix(
    without_redis: dict[str, Any],
) -> None:
    kind, message = without_redis["from_import"]
    assert kind == "ImportError"
    assert "redis extra" in message and "pip install" in message
    kind, message = without_redis["attribute"]
    assert kind == "AttributeError"  # what Python expects of a missing attribute...
    assert "pip install" in message  # ...still naming the fix


def test_an_unknown_name_is_a_plain_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        okx_async.Nope  # noqa: B018
    assert not hasattr(okx_async, "Nope")


def test_version_is_the_installed_metadata_from_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" in project, "pyproject.toml is the one place the version is written"
    assert okx_async.__version__ == version("okx-async") == project["version"]


def test_licence_file_matches_the_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License")
    assert "Copyright (c)" in licence and "the okx-async authors" in licence
    assert "WITHOUT WARRANTY OF ANY KIND" in licence
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
