"""The ``okx-async`` command, run as users run it: a separate process."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys

import pytest

from okx_async import OkxAPIError
from okx_async._cli import _parser, _print_table

BANNER = "Using the bundled OKX simulator"


def okx_async(
    *args: str, env: dict[str, str] | None = None, python: tuple[str, ...] = ("-m", "okx_async")
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OKX_")}
    return subprocess.run(
        [sys.executable, *python, *args],
        capture_output=True, text=True, timeout=60, env={**base, **(env or {})}, check=False,
    )


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


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


def test_refuses_without_keys_and_names_each_variable_once() -> None:
    run = okx_async("max-redeem", "USDT")
    assert run.returncode == 2
    assert run.stdout == ""
    for name in ("OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE"):
        assert run.stderr.count(name) == 1, run.stderr
    assert "--simulator" in run.stderr


def test_with_some_keys_set_names_each_variable_once() -> None:
    run = okx_async("max-redeem", "USDT", env={"OKX_API_KEY": "k", "OKX_PASSPHRASE": "p"})
    assert run.returncode == 2
    assert "set OKX_SECRET_KEY (" in run.stderr
    for name in ("OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE"):
        assert run.stderr.count(name) == 1, run.stderr


@pytest.mark.parametrize("ccy", ["", "US DT", "USDT&x=1"])
def test_bad_currency_is_refused_before_a_simulator_starts(ccy: str) -> None:
    run = okx_async("max-redeem", "--simulator", "USDT", ccy)
    assert run.returncode == 2
    assert run.stdout == ""
    assert BANNER not in run.stderr
    assert lines(run.stderr) == [lines(run.stderr)[0]]
    assert lines(run.stderr)[0].startswith("error: ccy")


def test_square_brackets_in_a_message_are_printed_not_read_as_markup() -> None:
    run = okx_async("max-redeem", "--simulator", "[bold]US[/]DT")
    assert run.returncode == 2
    assert "'[bold]US[/]DT'" in run.stderr


def test_the_redis_extra_hint_keeps_its_brackets() -> None:
    # sys.modules["redis"] = None is how Python spells "this package is not installed".
    hide_redis = "import sys; sys.modules['redis'] = None; from okx_async._cli import main; "
    run = okx_async(
        "max-redeem", "--simulator", "--redis-url", "redis://127.0.0.1:6379/0", "USDT",
        python=("-c", hide_redis + "sys.exit(main(sys.argv[1:]))"),
    )
    assert run.returncode == 2
    assert "pip install 'okx-async[redis]'" in run.stderr
    assert BANNER not in run.stderr


def test_an_okx_message_with_brackets_reaches_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = OkxAPIError("51000", "Parameter [ccy] error, see [bold]docs[/bold]")
    _print_table(["USDT"], {}, {"USDT": error})
    out = capsys.readouterr().out
    assert "[ccy]" in out
    assert "[bold]docs[/bold]" in out


def test_the_simulator_note_breaks_only_between_sentences() -> None:
    run = okx_async("max-redeem", "--simulator", "--json", "USDT", env={"COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    note = lines(run.stderr)
    assert note[0].startswith(BANNER)
    for line in note:
        assert len(line) <= 80
        assert line.endswith("."), note


def test_every_option_of_every_command_is_documented() -> None:
    commands = next(
        a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"okx-async {name} {'/'.join(action.option_strings)} has no help"


def test_redis_url_shares_the_limit_through_redis(redis_url: str) -> None:
    run = okx_async("max-redeem", "--simulator", "--json", "--redis-url", redis_url, "ETH")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["results"]["ETH"]["maxRedeemAmt"] == "3.2"


def test_unreachable_redis_is_one_line_and_a_configuration_error() -> None:
    run = okx_async("max-redeem", "--simulator", "--redis-url", "redis://:hunter2@127.0.0.1:1/0",
                    "ETH", "BTC", "USDT")
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(lines(run.stderr)) == 1, run.stderr
    assert run.stderr.startswith("error: cannot use Redis at 127.0.0.1:1 (")
    assert "--redis-fallback memory" in run.stderr
    assert "hunter2" not in run.stderr


def test_redis_fallback_memory_goes_on_without_redis() -> None:
    run = okx_async("max-redeem", "--simulator", "--json", "--redis-url",
                    "redis://127.0.0.1:1/0", "--redis-fallback", "memory", "ETH", "BTC")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["results"]["ETH"]["maxRedeemAmt"] == "3.2"
    assert "WARNING" in run.stderr  # the limiter says it limits this process alone


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
