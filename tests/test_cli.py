"""The ``okx-async`` command line in-process (``main(argv)``): flags, checks, output, Redis.

Runs against the bundled simulator over loopback HTTP (``--simulator``, or a
simulator in a thread of its own for ``--base-url``). The exit-code table is in
test_cli_exit.py, the Flexible Loan reads in test_cli_loan.py, the writes in
test_cli_write.py, and the two runs of the installed command in test_cli_smoke.py.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import socket
import sys
from importlib.metadata import version
from typing import Any

import pytest
from cli_fixtures import run, simulator, use_keys
from redis_fixture import RedisServer
from rich.console import Console

from okx_async._cli import _parser
from okx_async._cli_output import Column, print_table
from okx_async.simulator import DEMO_CREDENTIALS, TRADE_CREDENTIALS

BANNER = "Using the bundled OKX simulator"
ORDER = "2000000001"


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "80")


# The command line itself ------------------------------------------------------------


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "--version")
    assert (ran.code, ran.out) == (0, f"okx-async {version('okx-async')}\n")


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_works_before_and_after_the_subcommand(
    where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["max-redeem", "--simulator", "BTC"]
    ran = run(capsys, *(["-vv", *command] if where == "before" else [*command, "-vv"]))
    assert ran.code == 0, ran.err
    assert "DEBUG okx_async" in ran.err


def test_max_redeem_without_currencies_prints_its_own_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, "max-redeem", "--simulator")
    assert ran.code == 2
    assert ran.err.startswith("usage: okx-async max-redeem ")
    assert ran.err_lines[-1] == (
        "okx-async max-redeem: error: give currency codes or --all (one of the two)"
    )


def test_a_bad_extra_collateral_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "max-loan", "--simulator", "USDT", "--with", "BTC=-1")
    assert ran.code == 2
    assert ran.err_lines == [
        "okx-async max-loan: error: argument --with: BTC amount must be a positive finite "
        "number, got '-1'"
    ]


@pytest.mark.parametrize("argv", [
    ["max-redeem", "--simulator", "usdt"],
    ["collateral", "--simulator", "--ccy", "btc"],
    ["max-loan", "--simulator", "USDT", "--with", "btc=0.1"],
])
def test_lower_case_codes_are_refused_before_sending_with_the_upper_case_one(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, *argv)
    assert ran.code == 2
    assert len(ran.err_lines) == 1
    assert "OKX currency codes are upper case (" in ran.err
    assert BANNER not in ran.err


@pytest.mark.parametrize(("extra", "says"), [
    (["--base-url", "http://127.0.0.1:9"], "--simulator is the target"),
    (["--region", "eea"], "--simulator is the target"),
    (["--redis-fallback", "memory"], "--redis-fallback applies to --redis-url"),
    (["--user-id", "abc"], "argument --user-id: user ID 'abc' is not an OKX id"),
    (["--retries", "-1"], "argument --retries: must be from 0 to 20"),
])
def test_flags_that_make_no_sense_are_refused(
    extra: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, "loan-info", "--simulator", *extra)
    assert ran.code == 2
    assert says in ran.err_lines[-1]
    assert BANNER not in ran.err


@pytest.mark.parametrize("extra", [["--type", "bogus"], ["--limit", "0"]])
def test_history_flags_are_checked_before_the_simulator_starts(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, "history", "--simulator", *extra)
    assert ran.code == 2
    assert len(ran.err_lines) == 1
    assert BANNER not in ran.err


def test_every_option_of_every_command_is_documented() -> None:
    parser, _ = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"okx-async {name} {'/'.join(action.option_strings)} has no help"


def test_square_brackets_in_input_are_printed_not_read_as_markup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, "max-redeem", "--simulator", "[bold]US[/]DT")
    assert ran.code == 2
    assert "'[bold]US[/]DT'" in ran.err


# JSON: one convention ------------------------------------------------------------------

#: Every command, as it answers on the simulator's demo account.
EVERY_COMMAND = [
    ["max-redeem", "BTC", "NOPE"],
    ["loan-info"],
    ["collateral"],
    ["max-loan", "USDT", "--with", "BTC=0.1"],
    ["history", "--limit", "2"],
    ["interest", "--limit", "2"],
    ["borrow", "USDT", "10", "--collateral", "BTC=0.1", "--yes"],
    ["repay", "USDT", "10", "--ord-id", ORDER, "--yes"],
    ["adjust-collateral", "add", "BTC", "0.1", "--yes"],
]
_SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def _check_convention(value: Any, where: str) -> None:
    assert not isinstance(value, float), f"{where}: a float, not an exact string"
    if isinstance(value, dict):
        for key, item in value.items():
            assert _SNAKE.fullmatch(key), f"{where}: {key!r} is not snake_case"
            _check_convention(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_convention(item, f"{where}[{i}]")


@pytest.mark.parametrize("argv", EVERY_COMMAND, ids=[" ".join(a[:2]) for a in EVERY_COMMAND])
def test_every_command_prints_json_in_one_convention(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, *argv, "--simulator", "--json")
    assert ran.code in (0, 1), ran.err  # NOPE fails: the rest is still printed
    data = json.loads(ran.out)
    _check_convention(data, argv[0])
    # Amounts are decimal strings, exactly as OKX sent them.
    text = json.dumps(data)
    assert '"max_redeem_amt": "0.5"' in text or argv[0] != "max-redeem"


def test_json_amounts_are_plain_decimals_never_exponents(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, DEMO_CREDENTIALS)
    with simulator(amounts={"BTC": "0.00000001"}) as sim:
        ran = run(capsys, "max-redeem", "--base-url", sim.base_url, "--json", "BTC")
        table = run(capsys, "max-redeem", "--base-url", sim.base_url, "BTC")
    assert json.loads(ran.out)["results"] == [
        {"ord_id": None, "ccy": "BTC", "max_redeem_amt": "0.00000001"}
    ]
    assert "0.00000001" in table.out


# Tables: amounts, IDs and codes whole ------------------------------------------------------

LONG = "12345.678901234567890123"  # the demo account's SHIB, more digits than a float keeps


@pytest.mark.parametrize("columns", [80, 40])
@pytest.mark.parametrize("command", [
    # Each twice (table and JSON) within the rule's 5 requests per 2 s.
    ["history"], ["interest", "--limit", "5"], ["max-redeem", "SHIB", "DOGE"],
    ["loan-info"], ["collateral"],
], ids=lambda argv: argv[0])
def test_amounts_ids_and_codes_are_never_cut_or_wrapped(
    command: list[str], columns: int, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    table = run(capsys, *command, "--simulator")
    data = json.loads(run(capsys, *command, "--simulator", "--json").out)
    assert table.code == 0, table.err
    assert "…" not in table.out
    assert all(len(line) <= columns for line in table.out.splitlines())
    # Every value of those kinds, from the JSON of the same command, is on a line whole.
    words = set(re.findall(r"[\w.\-%]+", table.out))
    for value in _values(data, ("amt", "ord_id", "ref_id", "ccy", "max_redeem_amt", "loan",
                                "interest", "notional_usd", "max_loan", "liq_px")):
        assert value in words, f"{value} is cut or wrapped at {columns} columns"
    if command[0] in ("history", "max-redeem", "loan-info"):
        assert LONG in table.out or f"-{LONG}" in table.out


def _values(data: Any, names: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key in names and isinstance(value, str):
                found.append(value)
            else:
                found += _values(value, names)
    elif isinstance(data, list):
        for item in data:
            found += _values(item, names)
    return found


def test_with_some_keys_set_the_missing_one_is_named_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OKX_API_KEY", "k")
    monkeypatch.setenv("OKX_PASSPHRASE", "p")
    ran = run(capsys, "max-redeem", "USDT")
    assert ran.code == 2
    assert ran.err_lines[0] == (
        "error: missing OKX credentials: set OKX_SECRET_KEY (OKX_API_KEY and "
        "OKX_PASSPHRASE are set; all three are needed)"
    )
    for name in ("OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE"):
        assert ran.err.count(name) == 1, ran.err


def test_the_simulator_note_breaks_only_between_sentences(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, "max-redeem", "--simulator", "--json", "USDT")
    assert ran.code == 0, ran.err
    assert ran.err_lines[0].startswith(BANNER)
    for line in ran.err_lines:  # COLUMNS=80
        assert len(line) <= 80, line
        assert line.endswith("."), ran.err_lines


@pytest.mark.parametrize("width", [120, 30, 16], ids=["table", "folded", "blocks"])
def test_an_okx_message_with_brackets_is_printed_as_sent(width: int) -> None:
    """What OKX sends is text, never rich markup, in a table and in narrow blocks."""
    console = Console(record=True, width=width, color_system=None)
    message = "OKX error 51000: Parameter [ccy] error, see [bold]docs[/bold]"
    print_table(console, "Max redeem", [Column("Currency"), Column("Error", rigid=False)],
                [["USDT", message]])
    printed = re.sub(r"[\s\u2500-\u257f]", "", console.export_text())  # no spaces, no box
    assert "".join(message.split()) in printed


# Redis ------------------------------------------------------------------------------------


@pytest.mark.real_time("the fallback starts after the Redis limiter's grace, 3 s of real time")
def test_an_unreachable_redis_with_the_memory_fallback_goes_on_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    ran = run(capsys, "max-redeem", "--simulator", "--json", "--redis-url", url,
              "--redis-fallback", "memory", "ETH")
    assert ran.code == 0, ran.err
    results = {r["ccy"]: r["max_redeem_amt"] for r in json.loads(ran.out)["results"]}
    assert results == {"ETH": "3.2"}
    warnings = [line for line in ran.after_banner if line.startswith("WARNING")]
    assert len(warnings) == 1 and "falling back to a per-process share" in warnings[0]


def test_unreachable_redis_is_one_line_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, "max-redeem", "--simulator", "--redis-url",
              "redis://:hunter2@127.0.0.1:1/0", "ETH", "BTC")
    assert (ran.code, ran.out) == (2, "")
    assert len(ran.err_lines) == 1, ran.err
    assert ran.err.startswith("error: cannot use Redis at 127.0.0.1:1 (")
    assert "--redis-fallback memory" in ran.err
    assert "hunter2" not in ran.err


def _require_password(server: RedisServer, password: str) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
        sock.sendall(f"CONFIG SET requirepass {password}\r\n".encode())
        assert sock.recv(64).startswith(b"+OK")


@pytest.mark.real_time("a fresh Redis holds the limiter's first grants for its restart hold")
def test_redis_url_shares_the_limit_and_a_password_it_needs_is_named(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    for fallback in (["--redis-fallback", "memory"], []):
        ran = run(capsys, "max-redeem", "--simulator", "--json", "--redis-url",
                  redis_server.url, *fallback, "ETH")
        assert ran.code == 0, ran.err
        assert json.loads(ran.out)["results"][0]["max_redeem_amt"] == "3.2"

    _require_password(redis_server, "s3cret")
    where = f"127.0.0.1:{redis_server.port}"
    ran = run(capsys, "loan-info", "--simulator", "--redis-url", redis_server.url)
    assert ran.code == 2
    assert ran.err_lines == [
        f"error: Redis at {where} needs a password; nothing was sent. Put it in the URL "
        f"(redis://:PASSWORD@{where}/0), or pass --redis-fallback memory to limit this "
        "process alone"
    ]
    wrong = run(capsys, "loan-info", "--simulator", "--redis-url",
                f"redis://:nope@{where}/0")
    assert wrong.code == 2
    assert "refused the user name or password" in wrong.err
    assert "nope" not in wrong.err
    right = run(capsys, "max-redeem", "--simulator", "--json", "--redis-url",
                f"redis://:s3cret@{where}/0", "ETH")
    assert right.code == 0, right.err


def test_the_redis_extra_is_named_when_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # sys.modules["redis"] = None is how Python spells "this package is not installed".
    import okx_async

    for name in [n for n in sys.modules if n.startswith(("okx_async._redis", "redis."))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delattr(okx_async, "_redis", raising=False)
    ran = run(capsys, "max-redeem", "--simulator", "--redis-url", "redis://127.0.0.1:1/0", "BTC")
    assert ran.code == 2
    assert len(ran.err_lines) == 1
    assert "needs the redis package: install okx-async with its redis extra" in ran.err
    assert BANNER not in ran.err


def test_the_library_needs_no_rich_and_the_command_line_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ["rich", *[n for n in sys.modules if n.startswith("rich.")]]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the cli extra were not installed
    for name in [n for n in sys.modules if n.startswith("okx_async")]:
        monkeypatch.delitem(sys.modules, name)
    okx_async = importlib.import_module("okx_async")
    assert okx_async.OkxClient is not None
    entry = importlib.import_module("okx_async._main")
    assert entry.main(["max-redeem", "--simulator", "USDT"]) == 2
    assert "pip install 'okx-async[cli]'" in capsys.readouterr().err


# okx-async simulator ------------------------------------------------------------------------


def test_simulator_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ran = run(capsys, "simulator", "--port", str(busy))
    assert ran.code == 2
    assert ran.err_lines == [
        f"error: cannot listen on 127.0.0.1:{busy}: the port is in use; pick another with "
        "--port (0 picks a free one)"
    ]


@pytest.mark.parametrize(("flag", "says"), [
    (["--port", "99999"], "argument --port: must be from 0 to 65535"),
    (["--limit", "0"], "argument --limit: must be at least 1, got 0"),
    (["--window", "-2"], "argument --window: must be a positive number of seconds"),
])
def test_simulator_bad_values_are_one_line(
    flag: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, "simulator", *flag)
    assert ran.code == 2
    assert len(ran.err_lines) == 1
    assert says in ran.err


def test_the_simulator_banner_names_the_keys_and_a_command_that_works(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from okx_async._cli_simulator import banner

    with simulator() as sim:
        text = "\n".join(banner(sim.base_url))
        assert "okx_async.simulator.DEMO_CREDENTIALS" in text
        assert "okx_async.simulator.TRADE_CREDENTIALS" in text
        assert TRADE_CREDENTIALS.secret_key in text
        # The command line it prints, run as printed.
        printed = next(line for line in text.splitlines() if "okx-async loan-info" in line)
        words = printed.split()
        program = words.index("okx-async")
        for assignment in words[:program]:
            name, value = assignment.split("=", 1)
            monkeypatch.setenv(name, value)
        ran = run(capsys, *words[program + 1:], "--json")
    assert ran.code == 0, ran.err
    assert [order["ord_id"] for order in json.loads(ran.out)] == [ORDER, "2000000020"]
