"""The Flexible Loan subcommands, run as users run them: a separate process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from okx_async.simulator import DEMO_CREDENTIALS, DEMO_UID, Simulator
from okx_async.simulator.pytest_plugin import SimulatorFactory


def okx_async(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OKX_")}
    return subprocess.run(
        [sys.executable, "-m", "okx_async", *args], stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60, env={**base, **(env or {})}, check=False,
    )


def test_loan_info_json() -> None:
    run = okx_async("loan-info", "--simulator", "--json")
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["loan_data"] == [{"ccy": "USDT", "amt": "1000"}]
    assert (info["cur_ltv"], info["liq_ltv"], info["risk_warning"]) == ("0.0136", "0.9", None)


def test_history_walks_pages_up_to_the_limit_and_since() -> None:
    run = okx_async("history", "--simulator", "--json", "--limit", "3")
    assert run.returncode == 0, run.stderr
    entries = json.loads(run.stdout)
    assert [e["type"] for e in entries] == ["borrowed", "collateral_locked", "collateral_locked"]
    assert entries[0]["ts"].endswith("+00:00")
    none = okx_async("history", "--simulator", "--json", "--since", "2999-01-01")
    assert (none.returncode, json.loads(none.stdout)) == (0, [])


def test_adjust_collateral_asks_and_needs_keys() -> None:
    unconfirmed = okx_async("adjust-collateral", "--simulator", "reduce", "BTC", "0.1")
    assert unconfirmed.returncode == 1
    assert "--yes" in unconfirmed.stderr
    assert "Released" not in unconfirmed.stdout
    keyless = okx_async("adjust-collateral", "--yes", "reduce", "BTC", "0.1")
    assert keyless.returncode == 2
    assert "OKX_SECRET_KEY" in keyless.stderr
    bad = okx_async("adjust-collateral", "--simulator", "--yes", "reduce", "BTC", "0.1e")
    assert bad.returncode == 2
    assert "AMOUNT" in bad.stderr
    done = okx_async("adjust-collateral", "--simulator", "--yes", "reduce", "BTC", "0.1")
    assert done.returncode == 0, done.stderr
    assert "Released 0.1 BTC" in done.stdout


def test_max_redeem_needs_currencies_or_all() -> None:
    run = okx_async("max-redeem", "--simulator")
    assert run.returncode == 2
    assert "--all" in run.stderr


async def test_max_redeem_all_end_to_end(okx_simulator_factory: SimulatorFactory) -> None:
    sim: Simulator = await okx_simulator_factory(
        amounts={"BTC": "0.5", "ETH": "3.2", "USDT": "1", "LUNC": "0"}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKX_")}
    env.update(OKX_API_KEY=DEMO_CREDENTIALS.api_key, OKX_SECRET_KEY=DEMO_CREDENTIALS.secret_key,
               OKX_PASSPHRASE=DEMO_CREDENTIALS.passphrase)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "okx_async", "max-redeem", "--all", "--json",
        "--base-url", sim.base_url, "--user-id", DEMO_UID,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert json.loads(out)["results"] == {
        "BTC": {"ccy": "BTC", "maxRedeemAmt": "0.5"},
        "ETH": {"ccy": "ETH", "maxRedeemAmt": "3.2"},
        "USDT": {"ccy": "USDT", "maxRedeemAmt": "1"},
    }
    endpoints = [a.endpoint.rsplit("/", 1)[1] for a in sim.arrivals]
    assert endpoints == ["collateral-assets"] + ["max-collateral-redeem-amount"] * 3
