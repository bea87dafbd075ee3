"""borrow, repay and adjust-collateral from the command line, in-process.

The confirmation is answered on a real pseudo-terminal; faults are the simulator's
(a lost answer, a garbled one); "applied" is the simulator's own count of how many
times a keyed write executed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from cli_fixtures import Ran, run, simulator, terminal, use_keys

from okx_async.simulator import DEMO_UID, TRADE_CREDENTIALS, Simulator

ORDER = "2000000001"
BORROW = "/api/v5/finance/flexible-loan/borrow"


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    use_keys(monkeypatch, TRADE_CREDENTIALS)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulator() as served:
        yield served


def sent(sim: Simulator, path: str = BORROW) -> list[bytes]:
    return [a.body for a in sim.arrivals if a.endpoint == path]


def borrow_more(sim: Simulator, capsys: pytest.CaptureFixture[str], *extra: str) -> Ran:
    return run(capsys, "borrow", "USDT", "10", "--ord-id", ORDER, "--base-url", sim.base_url,
               *extra)


#: A write of each kind: keyed (borrow) and unkeyed (adjust-collateral), with its path.
WRITES = {
    "borrow": (["borrow", "USDT", "10", "--ord-id", ORDER], BORROW),
    "adjust-collateral": (["adjust-collateral", "reduce", "BTC", "0.1"],
                          "/api/v5/finance/flexible-loan/adjust-collateral"),
}


# The confirmation ------------------------------------------------------------------------


def test_yes_sends_exactly_what_was_shown(
    sim: Simulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with terminal(monkeypatch, b"y\n"):
        ran = borrow_more(sim, capsys)
    assert ran.code == 0, ran.err
    shown = next(line.strip() for line in ran.err_lines if line.strip().startswith("POST "))
    [body] = sent(sim)
    assert shown == f"POST {BORROW} {body.decode()}"
    assert ran.err_lines[0] == f"About to send to OKX at {sim.base_url} (live trading):"
    assert f"Loan order {ORDER} now owes 1000 USDT;" in ran.err
    assert f"Borrow 10 USDT more on loan order {ORDER}. Send it? [y/N]" in ran.err
    assert ran.out.startswith(f"Borrow accepted on loan order {ORDER} (clOrdId ")


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("typed", [b"n\n", b"\n", b"\x04"], ids=["no", "enter", "ctrl-d"])
def test_anything_but_yes_sends_nothing(
    typed: bytes, write: str, sim: Simulator, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv, path = WRITES[write]
    with terminal(monkeypatch, typed):
        ran = run(capsys, *argv, "--base-url", sim.base_url)
    assert (ran.code, ran.out) == (2, "")
    assert "[y/N] " in ran.err
    # The terminal echoes an answer (Ctrl-D echoes nothing: the command ends the line).
    assert ran.err.endswith(f"error: not confirmed: the {write} was not sent\n")
    assert "Traceback" not in ran.err
    assert sent(sim, path) == []


@pytest.mark.parametrize("write", WRITES)
def test_keys_are_checked_before_asking(
    write: str, sim: Simulator, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OKX_SECRET_KEY")
    with terminal(monkeypatch, b"y\n") as unread:
        ran = run(capsys, *WRITES[write][0], "--base-url", sim.base_url)
        assert unread() == b"y\n"  # never asked
    assert ran.code == 2
    assert "set OKX_SECRET_KEY" in ran.err


@pytest.mark.parametrize("write", WRITES)
def test_redis_is_checked_before_asking(
    write: str, sim: Simulator, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with terminal(monkeypatch, b"y\n") as unread:
        ran = run(capsys, *WRITES[write][0], "--base-url", sim.base_url,
                  "--redis-url", "redis://127.0.0.1:1/0")
        assert unread() == b"y\n"  # never asked
    assert ran.code == 2
    assert "cannot use Redis" in ran.err


def test_a_wrong_key_or_a_missing_order_is_found_before_asking(
    sim: Simulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with terminal(monkeypatch, b"y\n") as unread:
        gone = run(capsys, "repay", "USDT", "10", "--ord-id", "2999999999",
                   "--base-url", sim.base_url)
        assert unread() == b"y\n"  # never asked
    assert gone.code == 1
    assert "51063" in gone.err
    monkeypatch.setenv("OKX_PASSPHRASE", "wrong")
    with terminal(monkeypatch, b"y\n") as unread:
        refused = borrow_more(sim, capsys)
        assert unread() == b"y\n"  # never asked
    assert refused.code == 1
    assert refused.err_lines == [
        "error: OKX refused the API key (50105 Request header OK-ACCESS-PASSPHRASE incorrect): "
        "check OKX_PASSPHRASE"
    ]


@pytest.mark.parametrize(("argv", "says"), [
    (["borrow", "USDT", "10", "--ord-id", ORDER, "--e-mode"], "--e-mode is chosen when"),
    (["borrow", "USDT", "10"], "opening a loan order takes --collateral CCY=AMOUNT"),
    (["borrow", "USDT", "10", "--collateral", "BTC=1", "--collateral", "BTC=2"],
     "--collateral names BTC more than once"),
    (["borrow", "USDT", "0", "--ord-id", ORDER], "argument AMOUNT: amount must be a positive"),
    (["repay", "USDT", "10"], "the following arguments are required: --ord-id"),
    (["borrow", "USDT", "10", "--ord-id", ORDER, "--cl-ord-id", "no spaces"],
     "argument --cl-ord-id: clOrdId 'no spaces' is not a client id: 1 to 32"),
    (["adjust-collateral", "reduce", "btc", "0.1"], "upper case (BTC)"),
    (["adjust-collateral", "reduce", "BTC", "-0.1"], "argument AMOUNT: amount must be a positive"),
])
def test_a_write_that_cannot_be_sent_is_refused_before_anything(
    argv: list[str], says: str, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, *argv, "--yes", "--base-url", sim.base_url)
    assert ran.code == 2
    assert says in ran.err
    assert sim.arrivals == []


# Unknown outcomes and exactly once ----------------------------------------------------------


def test_a_lost_answer_is_confirmed_by_the_resend_and_applied_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with simulator(faults={"borrow": ["drop"]}) as sim:
        ran = run(capsys, "borrow", "USDT", "10", "--collateral", "BTC=0.1", "--yes",
                  "--base-url", sim.base_url)
        applied = dict(sim.accounts[DEMO_UID].applied)
    assert ran.code == 0, ran.err
    key = re.search(r"clOrdId (\w+)", ran.out)
    assert key is not None, ran.out
    assert applied == {("borrow", key[1]): 1}
    # The first answer, with the new order's ID, was lost: the command says where it is.
    assert "okx-async loan-info lists it" in ran.out


def test_an_unknown_outcome_names_its_key_and_the_resend_with_it_is_safe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with simulator(faults={"repay": ["drop"]}) as sim:
        argv = ["repay", "USDT", "10", "--ord-id", ORDER, "--yes", "--base-url", sim.base_url]
        lost = run(capsys, *argv, "--retries", "0")
        assert lost.code == 3
        first, hint = lost.err_lines
        key = re.search(r"clOrdId (\w+)", first)
        assert key is not None, first
        assert first.startswith("outcome unknown: POST /api/v5/finance/flexible-loan/repay")
        assert f"the same command with --cl-ord-id {key[1]} cannot execute twice" in hint
        again = run(capsys, *argv, "--cl-ord-id", key[1], "--json")
        applied = dict(sim.accounts[DEMO_UID].applied)
    assert again.code == 0, again.err
    assert json.loads(again.out) == {
        "ord_id": ORDER, "ccy": "USDT", "amt": "10", "cl_ord_id": key[1],
        "confirmed_by_duplicate": True,
    }
    assert applied == {("repay", key[1]): 1}


def test_adjust_collateral_with_a_garbled_answer_is_unknown_and_not_resent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with simulator(faults={"adjust-collateral": ["garbled"]}) as sim:
        ran = run(capsys, "adjust-collateral", "reduce", "BTC", "0.1", "--yes",
                  "--base-url", sim.base_url)
        adjusts = sent(sim, "/api/v5/finance/flexible-loan/adjust-collateral")
    assert (ran.code, ran.out) == (3, "")
    assert ran.err_lines[0].startswith("outcome unknown: POST ")
    assert "okx-async history --limit 5" in ran.err_lines[1]
    assert len(adjusts) == 1
