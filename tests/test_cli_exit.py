"""One exit-code contract for every subcommand, as a table: command x way it ends.

0 done; 1 OKX or the network failed, or part of a batch; 2 nothing was sent (bad
input, configuration, not confirmed); 3 a write's outcome is unknown; 130 Ctrl-C.
Each failure is real: a simulator with a wrong secret, a port nothing listens on,
a scripted fault, a real SIGINT.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_fixtures import ctrl_c_when, holding, run, simulator, use_keys

from okx_async import Credentials
from okx_async.simulator import DEMO_CREDENTIALS, TRADE_CREDENTIALS, Fault, Simulator

ORDER = "2000000001"  # the demo account's first loan order

#: Each subcommand: arguments that succeed on the demo account, and its endpoint.
COMMANDS: dict[str, tuple[list[str], str]] = {
    "max-redeem": (["BTC", "ETH"], "max-collateral-redeem-amount"),
    "loan-info": ([], "loan-info"),
    "collateral": ([], "collateral-assets"),
    "max-loan": (["USDT"], "max-loan"),
    "history": (["--limit", "3"], "loan-history"),
    "interest": (["--limit", "3"], "interest-accrued"),
    "borrow": (["USDT", "10", "--ord-id", ORDER, "--yes"], "borrow"),
    "repay": (["USDT", "10", "--ord-id", ORDER, "--yes"], "repay"),
    "adjust-collateral": (["reduce", "BTC", "0.01", "--yes"], "adjust-collateral"),
}
WRITES = ("borrow", "repay", "adjust-collateral")


def keys_for(command: str) -> Credentials:
    return TRADE_CREDENTIALS if command in WRITES else DEMO_CREDENTIALS


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    with simulator() as sim:
        yield sim


def command_line(command: str, *extra: str) -> list[str]:
    return [command, *COMMANDS[command][0], *extra]


@pytest.mark.parametrize("command", COMMANDS)
def test_done_is_0(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, *command_line(command, "--simulator"))
    assert (ran.code, ran.after_banner) == (0, []), ran.err


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", [
    ["--ord-id", "abc"],                                    # a value no request may carry
    ["--base-url", "http://127.0.0.1:9"],                   # with --simulator: two targets
    ["--redis-url", "redis://127.0.0.1:1/0"],               # Redis does not answer
], ids=["bad value", "two targets", "no redis"])
def test_bad_input_or_configuration_is_2_and_nothing_starts(
    command: str, bad: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, *command_line(command, "--simulator", *bad))
    assert ran.code == 2, ran.err
    assert ran.out == ""
    assert "Using the bundled OKX simulator" not in ran.err


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_keys_is_2(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, *command_line(command))
    assert ran.code == 2
    assert ran.err_lines[0] == (
        "error: missing OKX credentials: set OKX_API_KEY, OKX_SECRET_KEY and OKX_PASSPHRASE"
    )
    assert ran.err_lines[1] == f"Or try the bundled simulator: okx-async {command} --simulator"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_wrong_secret_is_1_in_one_line_naming_the_fix(
    command: str, shared_sim: Simulator, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = keys_for(command)
    use_keys(monkeypatch, Credentials(keys.api_key, "WRONG-SECRET", keys.passphrase))
    ran = run(capsys, *command_line(command, "--base-url", shared_sim.base_url))
    assert ran.code == 1
    assert ran.out == ""
    assert ran.err_lines == [
        "error: OKX refused the API key (50113 Invalid Sign): check OKX_SECRET_KEY"
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_host_is_1_in_one_line(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, keys_for(command))
    ran = run(capsys, *command_line(command, "--base-url", "http://127.0.0.1:1", "--retries", "0"))
    assert ran.code == 1
    assert ran.out == ""
    assert len(ran.err_lines) == 1
    assert ran.err_lines[0].startswith("error: cannot connect to http://127.0.0.1:1 (")
    assert ran.err_lines[0].endswith("check the network, or --region/--base-url")


@pytest.fixture(scope="module")
def holding_sim() -> Iterator[Simulator]:
    """Holds the first request to each command's endpoint half a second: time to Ctrl-C."""
    with simulator(faults={endpoint: [Fault(hold=0.5)] for _, endpoint in COMMANDS.values()}) \
            as sim:
        yield sim


@pytest.mark.parametrize("command", COMMANDS)
def test_ctrl_c_while_a_request_is_in_flight_is_130(
    command: str, holding_sim: Simulator, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = COMMANDS[command][1]
    use_keys(monkeypatch, keys_for(command))
    with ctrl_c_when(holding(holding_sim, endpoint)) as sent:
        ran = run(capsys, *command_line(command, "--base-url", holding_sim.base_url))
    assert sent.is_set()
    assert ran.code == 130
    if command in WRITES:
        # The write was on its way: it may have been executed.
        assert f"interrupted: the {command} may have reached OKX." in ran.err_lines
        assert any(line.startswith("Before trying again") for line in ran.err_lines)
    else:
        assert ran.err == ""


@pytest.mark.parametrize("command", WRITES)
def test_a_write_whose_answer_is_lost_is_3(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without retries, a lost answer leaves the outcome unknown (with them, borrow and
    # repay are confirmed by their clOrdId: see test_cli_write.py).
    use_keys(monkeypatch, TRADE_CREDENTIALS)
    endpoint = COMMANDS[command][1]
    with simulator(faults={endpoint: ["drop"]}) as sim:
        ran = run(capsys, *command_line(command, "--base-url", sim.base_url, "--retries", "0"))
    assert ran.code == 3
    assert ran.out == ""
    assert ran.err_lines[0].startswith("outcome unknown:")


@pytest.mark.parametrize("command", WRITES)
def test_a_write_not_confirmed_is_2(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # pytest's stdin is not a terminal: nobody can confirm, so nothing starts.
    args = [a for a in command_line(command, "--simulator") if a != "--yes"]
    ran = run(capsys, *args)
    assert ran.code == 2
    assert ran.err_lines == [
        f"error: refusing to {command} without confirmation: stdin is not a terminal; "
        "pass --yes"
    ]


def test_part_of_a_batch_failed_is_1_with_the_rest_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, "max-redeem", "--simulator", "BTC", "NOPE")
    assert ran.code == 1
    assert "0.5" in ran.out
    assert "51000" in ran.out


def test_okx_refusing_a_parameter_is_1(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "max-loan", "--simulator", "NOPE")
    assert ran.code == 1
    assert ran.after_banner == ["error: OKX error 51000: Parameter borrowCcy error"]

