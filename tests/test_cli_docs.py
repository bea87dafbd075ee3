"""docs/cli.md's JSON examples are what the commands print: each is run in-process.

An ``sh`` block of one ``okx-async ... --json`` command followed by a ``json`` block
is an example. The command runs with ``main(argv)`` and its output must equal the
block, except that a list in the block may end with ``"..."`` (the rest of the list
left out) and ``ts`` may be any time in UTC (the simulator dates its records from
its start).
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from cli_fixtures import run

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
_BLOCK = re.compile(r"```(?P<tag>\w*)\n(?P<body>.*?)```", re.DOTALL)


def examples() -> list[tuple[str, Any]]:
    """(command line, documented JSON) for each example of the page, in order."""
    blocks = [(m["tag"], m["body"]) for m in _BLOCK.finditer(PAGE.read_text(encoding="utf-8"))]
    found = []
    for (tag, body), (next_tag, output) in pairwise(blocks):
        command = body.strip()
        if tag == "sh" and next_tag == "json" and "\n" not in command:
            found.append((command, json.loads(output)))
    return found


EXAMPLES = examples()


def matches(documented: Any, actual: Any, key: str = "") -> bool:
    if key == "ts" and isinstance(documented, str) and isinstance(actual, str):
        return datetime.fromisoformat(actual).utcoffset() is not None
    if isinstance(documented, dict):
        return (isinstance(actual, dict) and documented.keys() == actual.keys()
                and all(matches(documented[k], actual[k], k) for k in documented))
    if isinstance(documented, list):
        if not isinstance(actual, list):
            return False
        if documented and documented[-1] == "...":
            documented = documented[:-1]
            actual = actual[:len(documented)]
        return len(documented) == len(actual) and all(
            matches(d, a) for d, a in zip(documented, actual, strict=True)
        )
    return bool(documented == actual)


def test_every_command_has_a_json_example() -> None:
    documented = {shlex.split(command)[1] for command, _ in EXAMPLES}
    assert documented == {
        "loan-info", "max-redeem", "collateral", "max-loan", "history", "interest",
        "borrow", "repay", "adjust-collateral",
    }


@pytest.mark.parametrize(("command", "documented"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_the_example_is_what_the_command_prints(
    command: str, documented: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    program, *argv = shlex.split(command)
    assert program == "okx-async"
    ran = run(capsys, *argv)
    assert ran.code in (0, 1), ran.err
    actual = json.loads(ran.out)
    assert matches(documented, actual), json.dumps(actual, indent=2)
