"""The OKX simulator in a child process, so the client under test has a core to itself.

The parent starts ``python -m benchmarks._server OPTIONS_JSON``; the child prints
``READY <base_url>``, serves until a line (or EOF) arrives on its stdin, then prints
its arrival log as one JSON line and exits. A fresh child per case means fresh
rate-limit budgets, and the client's CPU time never includes the server's.

Arrival times are ``time.monotonic()``, which on Linux is one clock for every process,
so the parent can compare them with its own readings.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

#: The repository root: ``-m benchmarks._server`` must find the package from there.
ROOT = Path(__file__).resolve().parents[1]
#: Every currency code gets this amount, so fan-outs may invent codes like "C00001".
ANY_AMOUNT = "123.456"
_READY = "READY "


class ArrivalRecord(NamedTuple):
    """One request as the simulator counted it (a slimmed ``Arrival``)."""

    t: float
    endpoint: str
    ccy: str | None
    code: str


def _any_amount(ccy: str) -> str:
    return ANY_AMOUNT


class SimServer:
    """A simulator child process; use as a context manager, then call :meth:`finish`.

    Example::

        with SimServer(limit=5, window=2.0) as server:
            ...  # point a client at server.base_url
            arrivals = server.finish()
    """

    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 2.0,
        rate_limit: bool = True,
        request_latency: tuple[float, float] = (0.0, 0.0),
        response_latency: tuple[float, float] = (0.0, 0.0),
        algorithm: str = "sliding-log",
    ) -> None:
        self.options: dict[str, Any] = {
            "limit": limit,
            "window": window,
            "rate_limit": rate_limit,
            "request_latency": list(request_latency),
            "response_latency": list(response_latency),
            "algorithm": algorithm,
        }
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> SimServer:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server", json.dumps(self.options)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._proc = proc
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith(_READY):
            self._stop()
            raise RuntimeError(f"simulator child failed to start: {line!r}")
        self.base_url = line[len(_READY):].strip()
        return self

    def finish(self) -> list[ArrivalRecord]:
        """Stop the child and return every request it counted, in arrival order."""
        proc = self._proc
        if proc is None:
            raise RuntimeError("the simulator child is not running")
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        self._stop()
        return [ArrivalRecord(*row) for row in json.loads(line)]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            # Closing stdin is the child's signal to stop; terminate if it lingers.
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()


async def _serve(options: dict[str, Any]) -> None:
    from okx_async.simulator import Simulator

    up = options.pop("request_latency", [0.0, 0.0])
    down = options.pop("response_latency", [0.0, 0.0])
    async with Simulator(
        amounts=_any_amount, seed=1, request_latency=(up[0], up[1]),
        response_latency=(down[0], down[1]), **options,
    ) as sim:
        print(_READY + sim.base_url, flush=True)
        # Serve until the parent writes a line or goes away (EOF).
        await asyncio.to_thread(sys.stdin.readline)
        rows = [[a.t, a.endpoint, a.ccy, a.code] for a in sim.arrivals]
    print(json.dumps(rows), flush=True)


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
