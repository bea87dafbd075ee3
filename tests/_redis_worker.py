"""One bot process of the multi-process Redis limiter test.

Run as ``python tests/_redis_worker.py '<json>'`` with the keys ``redis_url``,
``base_url``, ``user_id``, ``start_at`` (a ``time.time()`` to sleep until, so that
interpreter start-up is not measured) and ``ccys``. Prints one JSON object:
``{"results": {ccy: amount as a Decimal string}, "errors": {ccy: repr},
"late": seconds it started after start_at}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from okx_async import MaxCollateralRedeemAmount, OkxBatchError, OkxClient
from okx_async._redis_limiter import RedisLimiter
from okx_async.simulator import DEMO_CREDENTIALS


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    ccys = [str(c) for c in spec["ccys"]]
    start_at = float(spec["start_at"])
    found: Mapping[str, object]
    errors: dict[str, str] = {}
    async with (
        RedisLimiter.from_url(str(spec["redis_url"])) as limiter,
        OkxClient(
            DEMO_CREDENTIALS, base_url=str(spec["base_url"]), user_id=str(spec["user_id"]),
            limiter=limiter,
        ) as okx,
    ):
        await asyncio.sleep(max(0.0, start_at - time.time()))
        late = time.time() - start_at
        try:
            found = await okx.max_collateral_redeem_amounts(ccys)
        except OkxBatchError as exc:
            found = exc.results
            errors = {ccy: repr(error) for ccy, error in exc.errors.items()}
    results = {
        ccy: str(amount.max_redeem_amt)
        for ccy, amount in found.items()
        if isinstance(amount, MaxCollateralRedeemAmount)
    }
    return {"results": results, "errors": errors, "late": late}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
