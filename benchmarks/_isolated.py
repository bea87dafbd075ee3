"""Run one measurement in a fresh interpreter, so it pays for no one else's heap.

Python's garbage collector walks every live object of the process, so a client
measured in a process that also imported ccxt (about 165,000 objects) or held the
previous round's garbage would be charged for them. Each CPU measurement therefore
runs in a child of its own that imports only what its client needs:
``python -m benchmarks._isolated '{"target": "module:function", "kwargs": {...}}'``
prints the function's JSON-ready result as its last line.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import subprocess
import sys
from typing import Any

from ._server import ROOT


def run_isolated(target: str, **kwargs: Any) -> dict[str, Any]:
    """``target(**kwargs)`` (``"module:function"``, awaited if async) in a fresh child."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._isolated",
         json.dumps({"target": target, "kwargs": kwargs})],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{target} failed in its child process:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _main(spec: dict[str, Any]) -> None:
    module, name = spec["target"].split(":")
    function = getattr(importlib.import_module(module), name)
    result = function(**spec["kwargs"])
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    _main(json.loads(sys.argv[1]))
