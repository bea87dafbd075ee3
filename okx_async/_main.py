"""The ``okx-async`` command's entry point: the command line needs the ``cli`` extra."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line, or say which extra it needs."""
    try:
        from ._cli import main as run
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "rich":
            raise
        print(
            "okx-async: the command line needs the cli extra: pip install 'okx-async[cli]' "
            "(from a clone: pip install -e '.[cli]')",
            file=sys.stderr,
        )
        return 2
    return run(argv)
