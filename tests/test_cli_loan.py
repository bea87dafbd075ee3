"""The Flexible Loan reads from the command line, in-process, on accounts with two orders or none.

Also: a failure that strikes every request (a wrong secret, an unreachable host) is
one line and stops a fan-out at once, and retries say so on stderr.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from cli_fixtures import run, simulator, use_keys

from okx_async import Credentials
from okx_async.simulator import DEMO_CREDENTIALS, OrderSeed, Simulator

LONG = "12345.678901234567890123"
#: Two orders: the first owes a little, the second nothing (so all of it is redeemable).
TWO_ORDERS = [
    OrderSeed({"BTC": "0.5", "SHIB": LONG}, {"USDT": "100"}),
    OrderSeed({"ETH": "3.2", "DOGE": "98765.4321"}),
]


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    use_keys(monkeypatch, DEMO_CREDENTIALS)
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture
def two_orders() -> Iterator[Simulator]:
    with simulator(orders=TWO_ORDERS) as sim:
        yield sim


@pytest.fixture
def no_order() -> Iterator[Simulator]:
    with simulator(orders=[]) as sim:
        yield sim


def ord_ids(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> list[str]:
    ran = run(capsys, "loan-info", "--base-url", sim.base_url, "--json")
    return [order["ord_id"] for order in json.loads(ran.out)]


# loan-info ----------------------------------------------------------------------------


def test_loan_info_lists_every_order_with_coin_amounts_in_coins(
    two_orders: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = ord_ids(two_orders, capsys)
    ran = run(capsys, "loan-info", "--base-url", two_orders.base_url)
    assert ran.code == 0, ran.err
    assert f"Loan order {first}" in ran.out
    assert f"Loan order {second}" in ran.out
    assert "(USD)" not in ran.out  # no coin amount sits under a USD heading
    lines = ran.out.splitlines()
    for amount, unit in (("0.5", "BTC"), (LONG, "SHIB"), ("100", "USDT"), ("3.2", "ETH")):
        assert any(f" {amount} " in line and f" {unit} " in line for line in lines), amount
    usd = [line for line in lines if "value" in line]
    assert usd and all(line.rstrip(" │").endswith("USD") for line in usd)


def test_loan_info_json_is_a_list_of_orders(
    two_orders: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, "loan-info", "--base-url", two_orders.base_url, "--json")
    orders = json.loads(ran.out)
    assert [o["collateral_data"] for o in orders] == [
        [{"ccy": "BTC", "amt": "0.5"}, {"ccy": "SHIB", "amt": LONG}],
        [{"ccy": "ETH", "amt": "3.2"}, {"ccy": "DOGE", "amt": "98765.4321"}],
    ]
    assert orders[0]["loan_data"] == [{"ccy": "USDT", "amt": "100"}]
    one = run(capsys, "loan-info", "--base-url", two_orders.base_url, "--json",
              "--ord-id", orders[1]["ord_id"])
    assert json.loads(one.out) == [orders[1]]


def test_no_order_is_an_ordinary_state_for_every_read(
    no_order: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--base-url", no_order.base_url]
    cases: list[tuple[list[str], str, object]] = [
        (["loan-info"], "No loan order.", []),
        (["collateral"], "No loan order: no collateral.", []),
        (["max-loan", "USDT"], "No loan order: max-loan answers for an open order.", None),
        (["max-redeem", "--all"], "No loan order: there is no collateral to redeem.",
         {"results": [], "errors": []}),
        (["max-redeem", "BTC"], "No loan order: there is no collateral to redeem.",
         {"results": [{"ord_id": None, "ccy": "BTC", "max_redeem_amt": None}], "errors": []}),
        (["history"], "Loan history: no records.", []),
    ]
    for argv, shown, data in cases:
        table = run(capsys, *argv, *url)
        assert (table.code, table.out.strip()) == (0, shown), argv
        as_json = run(capsys, *argv, *url, "--json")
        assert (as_json.code, json.loads(as_json.out)) == (0, data), argv


# max-redeem ---------------------------------------------------------------------------


def test_max_redeem_all_asks_every_order_and_names_it(
    two_orders: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, "max-redeem", "--all", "--base-url", two_orders.base_url, "--json")
    assert ran.code == 0, ran.err
    results = json.loads(ran.out)["results"]
    first, second = dict.fromkeys(r["ord_id"] for r in results)
    assert [(r["ord_id"], r["ccy"]) for r in results] == [
        (first, "BTC"), (first, "SHIB"), (second, "ETH"), (second, "DOGE")
    ]
    # The second order owes nothing: all of its collateral is redeemable.
    assert [r["max_redeem_amt"] for r in results[2:]] == ["3.2", "98765.4321"]
    assert all(0 <= Decimal(r["max_redeem_amt"]) <= Decimal(LONG) for r in results[:2])


def test_max_redeem_all_table_has_a_row_per_order_and_currency(
    two_orders: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, "max-redeem", "--all", "--base-url", two_orders.base_url)
    assert ran.code == 0, ran.err
    rows = [line.strip("│ ").split() for line in ran.out.splitlines() if "│" in line]
    cells = [[cell for cell in row if cell != "│"] for row in rows]
    first, second = dict.fromkeys(row[0] for row in cells)
    assert [row[:2] for row in cells] == [
        [first, "BTC"], [first, "SHIB"], [second, "ETH"], [second, "DOGE"]
    ]
    assert [row[2] for row in cells[2:]] == ["3.2", "98765.4321"]


@pytest.mark.parametrize("columns", [80, 40])
def test_max_redeem_all_keeps_ids_and_amounts_whole_at_any_width(
    columns: int, two_orders: Simulator, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    first, second = ord_ids(two_orders, capsys)
    ran = run(capsys, "max-redeem", "--all", "--base-url", two_orders.base_url)
    assert "…" not in ran.out
    assert all(len(line) <= columns for line in ran.out.splitlines())
    words = ran.out.split()
    assert {first, second, "SHIB", "98765.4321"} <= set(words)


def test_max_redeem_one_order_by_id(
    two_orders: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    _, second = ord_ids(two_orders, capsys)
    ran = run(capsys, "max-redeem", "DOGE", "--ord-id", second, "--json",
              "--base-url", two_orders.base_url)
    assert json.loads(ran.out)["results"] == [
        {"ord_id": second, "ccy": "DOGE", "max_redeem_amt": "98765.4321"}
    ]
    every = run(capsys, "max-redeem", "--all", "--ord-id", second, "--json",
                "--base-url", two_orders.base_url)
    assert [r["ccy"] for r in json.loads(every.out)["results"]] == ["ETH", "DOGE"]


def test_a_currency_named_twice_is_asked_and_shown_once(
    two_orders: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, "max-redeem", "ETH", "ETH", "BTC", "--json",
              "--base-url", two_orders.base_url)
    assert ran.code == 0, ran.err
    assert [r["ccy"] for r in json.loads(ran.out)["results"]] == ["ETH", "BTC"]
    redeem = "/max-collateral-redeem-amount"
    asked = [a.ccy for a in two_orders.arrivals if a.endpoint.endswith(redeem)]
    assert sorted(asked, key=str) == ["BTC", "ETH"]


# collateral, max-loan, history ------------------------------------------------------------


def test_collateral_of_a_currency_not_held_is_a_failure_not_an_empty_table(
    two_orders: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, "collateral", "--ccy", "NOPE", "--base-url", two_orders.base_url)
    assert (ran.code, ran.out) == (1, "")
    assert ran.err_lines == [
        "error: no NOPE in the collateral of the earliest loan order (OKX's choice "
        "without --ord-id)"
    ]
    held = run(capsys, "collateral", "--ccy", "BTC", "--json", "--base-url",
               two_orders.base_url)
    assert [a["ccy"] for a in json.loads(held.out)] == ["BTC"]


def test_collateral_and_max_loan_of_the_second_order(
    two_orders: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    _, second = ord_ids(two_orders, capsys)
    url = ["--base-url", two_orders.base_url, "--ord-id", second, "--json"]
    assets = json.loads(run(capsys, "collateral", *url).out)
    assert [(a["ccy"], a["amt"]) for a in assets] == [("ETH", "3.2"), ("DOGE", "98765.4321")]
    headroom = json.loads(run(capsys, "max-loan", "USDT", "--with", "BTC=0.1", *url).out)
    assert headroom["borrow_ccy"] == "USDT"
    assert Decimal(headroom["max_loan"]) > 0


def test_history_walks_pages_up_to_the_limit_and_since(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, "history", "--simulator", "--json", "--limit", "3")
    assert ran.code == 0, ran.err
    entries = json.loads(ran.out)
    assert [e["type"] for e in entries] == ["borrowed", "collateral_locked", "collateral_locked"]
    assert entries[0]["ts"].endswith("+00:00")
    none = run(capsys, "history", "--simulator", "--json", "--since", "2999-01-01")
    assert (none.code, json.loads(none.out)) == (0, [])


# One failure, one line ----------------------------------------------------------------------

MANY = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "TRX", "TON", "DOT", "LTC", "BCH", "LINK"]


@pytest.mark.parametrize("user_id", [[], ["--user-id", "1000001"]], ids=["lookup", "user id"])
def test_a_wrong_secret_stops_a_fan_out_at_once_in_one_line(
    user_id: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Twelve currencies at 5 per 2 s take two windows to send: stopping at the first
    # refusal ends the command within the first.
    use_keys(monkeypatch, Credentials(DEMO_CREDENTIALS.api_key, "WRONG", "demo-passphrase-1"))
    with simulator() as sim:
        started = time.monotonic()
        ran = run(capsys, "max-redeem", "--base-url", sim.base_url, *user_id, *MANY)
        took = time.monotonic() - started
    assert (ran.code, ran.out) == (1, "")
    assert ran.err_lines == [
        "error: OKX refused the API key (50113 Invalid Sign): check OKX_SECRET_KEY"
    ]
    assert took < 2.0


def test_retries_say_so_on_stderr_then_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, "max-redeem", "--base-url", "http://127.0.0.1:1", "--retries", "1",
              *MANY[:3])
    assert ran.code == 1
    retrying, error = ran.err_lines
    assert retrying.startswith("retrying /api/v5/account/config (attempt 2 in ")
    assert "Cannot connect to host 127.0.0.1:1" in retrying
    assert error.startswith("error: cannot connect to http://127.0.0.1:1 (")
