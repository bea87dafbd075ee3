"""One bot process of the multi-process Redis limiter tests.

Run as ``python tests/_redis_worker.py '<json>'`` with the keys ``redis_url``,
``base_url``, ``user_id``, ``start_at`` (a ``time.time()`` to sleep until, so that
interpreter start-up is not measured), ``ccys``, and optionally ``rule``
(``[requests, window]`` for the endpoint) and ``options`` (for ``RedisLimiter``).

Prints two JSON lines: at once ``{"instance": ..., "pid": ...}`` (the instance names
this process's tickets in Redis), and at the end ``{"results": {ccy: amount as a
Decimal string}, "errors": {ccy: repr}, "late": seconds it started after start_at,
"closing": seconds its limiter and client took to close}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from okx_async import MaxCollateralRedeemAmount, OkxBatchError, OkxClient, RateLimit, RedisLimiter
from okx_async.simulator import DEMO_CREDENTIALS

REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    ccys = [str(c) for c in spec["ccys"]]
    start_at = float(spec["start_at"])
    rules = {REDEEM: RateLimit(*spec["rule"])} if "rule" in spec else None
    found: Mapping[str, object]
    errors: dict[str, str] = {}
    async with (
        RedisLimiter.from_url(str(spec["redis_url"]), **spec.get("options", {})) as limiter,
        OkxClient(
            DEMO_CREDENTIALS, base_url=str(spec["base_url"]), user_id=str(spec["user_id"]),
            limiter=limiter, rate_limits=rules,
        ) as okx,
    ):
        print(json.dumps({"instance": limiter._instance, "pid": os.getpid()}), flush=True)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        late = time.time() - start_at
        try:
            found = await okx.max_collateral_redeem_amounts(ccys)
        except OkxBatchError as exc:
            found = exc.results
            errors = {ccy: repr(error) for ccy, error in exc.errors.items()}
        done = time.time()
    closing = time.time() - done
    results = {
        ccy: str(amount.max_redeem_amt)
        for ccy, amount in found.items()
        if isinstance(amount, MaxCollateralRedeemAmount)
    }
    return {"results": results, "errors": errors, "late": late, "closing": closing}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
