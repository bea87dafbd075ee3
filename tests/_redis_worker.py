"""One bot process of the multi-process Redis limiter tests.

Run as ``python tests/_redis_worker.py``; it imports everything first, then reads its
spec, one JSON line on stdin, with the keys ``redis_url``, ``base_url``, ``user_id``,
``ccys``, and optionally ``rule`` (``[requests, window]`` for the endpoint),
``options`` (for ``RedisLimiter``) and ``debug`` (warnings are errors, and asyncio's
debug mode). So a test may start it ahead of time.

The handshake: once its limiter reached Redis it prints ``{"instance": ..., "pid":
...}`` (the instance names this process's tickets in Redis) and waits for a line on
stdin; then it fans out, closes its limiter and client, and prints ``{"results":
{ccy: amount as a Decimal string}, "errors": {ccy: repr}, "closing": seconds its
limiter and client took to close}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import warnings
from collections.abc import Mapping
from typing import Any

from okx_async import MaxCollateralRedeemAmount, OkxBatchError, OkxClient, RateLimit, RedisLimiter
from okx_async.simulator import DEMO_CREDENTIALS

REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    ccys = [str(c) for c in spec["ccys"]]
    rules = {REDEEM: RateLimit(*spec["rule"])} if "rule" in spec else None
    found: Mapping[str, object]
    errors: dict[str, str] = {}
    loop = asyncio.get_running_loop()
    async with (
        RedisLimiter.from_url(str(spec["redis_url"]), **spec.get("options", {})) as limiter,
        OkxClient(
            DEMO_CREDENTIALS, base_url=str(spec["base_url"]), user_id=str(spec["user_id"]),
            limiter=limiter, rate_limits=rules,
        ) as okx,
    ):
        await limiter._redis.ping()  # connected: what follows is the fan-out alone
        print(json.dumps({"instance": limiter._instance, "pid": os.getpid()}), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # "go"
        try:
            found = await okx.max_collateral_redeem_amounts(ccys)
        except OkxBatchError as exc:
            found = exc.results
            errors = {ccy: repr(error) for ccy, error in exc.errors.items()}
        done = time.monotonic()
    closing = time.monotonic() - done
    results = {
        ccy: str(amount.max_redeem_amt)
        for ccy, amount in found.items()
        if isinstance(amount, MaxCollateralRedeemAmount)
    }
    return {"results": results, "errors": errors, "closing": closing}


if __name__ == "__main__":
    spec = json.loads(sys.stdin.readline())
    if spec.get("debug"):
        warnings.simplefilter("error")
    print(json.dumps(asyncio.run(main(spec), debug=bool(spec.get("debug")))), flush=True)
