"""Profile okx-async's per-request CPU with pyinstrument: where a request's time goes.

``python -m benchmarks.profile_overhead [--concurrency 50] [--requests 5000]`` runs the
overhead benchmark's load (unlimited simulator in a child process) under pyinstrument
and prints the call tree. pyinstrument is not in the bench extra: ``pip install
pyinstrument`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import sys

from okx_async import MemoryLimiter, OkxClient
from okx_async.simulator import DEMO_UID

from ._common import CREDENTIALS, REDEEM_PATH
from ._server import SimServer
from .overhead import UNLIMITED, WARMUP, _drive


async def _profile(concurrency: int, requests: int) -> str:
    # Imported by name: pyinstrument is optional and has no place in the type check.
    profiler = importlib.import_module("pyinstrument").Profiler(
        interval=0.0005, async_mode="disabled"
    )
    with SimServer(rate_limit=False) as server:
        async with OkxClient(
            CREDENTIALS, base_url=server.base_url, user_id=DEMO_UID,
            limiter=MemoryLimiter(), rate_limits={REDEEM_PATH: UNLIMITED},
        ) as okx:
            await _drive(okx.max_collateral_redeem_amount, WARMUP, concurrency)
            # The whole thread is sampled, event loop included: its cost is per request too.
            profiler.start()
            await _drive(okx.max_collateral_redeem_amount, requests, concurrency)
            profiler.stop()
        server.finish()
    return str(profiler.output_text(unicode=True, color=False, show_all=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_overhead")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("pyinstrument") is None:
        print("pyinstrument is not installed: pip install pyinstrument", file=sys.stderr)
        return 1
    print(asyncio.run(_profile(args.concurrency, args.requests)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
