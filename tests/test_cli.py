"""The ``okx-async`` command, run as users run it: a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def okx_async(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OKX_")}
    return subprocess.run(
        [sys.executable, "-m", "okx_async", *args],
        capture_output=True, text=True, timeout=60, env={**base, **(env or {})}, check=False,
    )


def test_simulator_json() -> None:
    run = okx_async("max-redeem", "--simulator", "--json", "USDT", "BTC", "USDT")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out == {
        "results": {
            "USDT": {"ccy": "USDT", "maxRedeemAmt": "1"},
            "BTC": {"ccy": "BTC", "maxRedeemAmt": "0.5"},
        },
        "errors": {},
    }


def test_simulator_table_and_a_failed_currency() -> None:
    run = okx_async("max-redeem", "--simulator", "ETH", "NOPE")
    assert run.returncode == 1
    assert "ETH" in run.stdout
    assert "3.2" in run.stdout
    assert "51000" in run.stdout


def test_refuses_without_keys_and_names_the_variables() -> None:
    run = okx_async("max-redeem", "USDT")
    assert run.returncode == 2
    assert run.stdout == ""
    for name in ("OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE"):
        assert name in run.stderr


@pytest.mark.parametrize("ccy", ["", "US DT", "USDT&x=1"])
def test_bad_currency_is_refused(ccy: str) -> None:
    run = okx_async("max-redeem", "--simulator", ccy)
    assert run.returncode == 2
    assert "ccy" in run.stderr


def test_redis_url_shares_the_limit_through_redis(redis_url: str) -> None:
    run = okx_async("max-redeem", "--simulator", "--json", "--redis-url", redis_url, "ETH")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["results"]["ETH"]["maxRedeemAmt"] == "3.2"


def test_unreachable_redis_is_a_clear_error() -> None:
    run = okx_async("max-redeem", "--simulator", "--redis-url", "redis://:hunter2@127.0.0.1:9/0",
                    "ETH")
    assert run.returncode == 1
    assert "Redis" in run.stdout + run.stderr
    assert "hunter2" not in run.stdout + run.stderr
