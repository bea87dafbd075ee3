"""What a subcommand is to the command line: its flags, its checks and its runner."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

import attrs

from ._cli_session import Session


def _no_check(args: argparse.Namespace) -> None:
    """Nothing to check beyond what argparse checked."""


@attrs.frozen
class Command:
    """One subcommand that talks to OKX (or the simulator).

    ``arguments`` adds its own flags (the connection flags are added for every
    command); ``check`` refuses what argparse cannot express, raising
    :class:`~okx_async._cli_exit.Refused` before anything is used; ``run`` does the
    work with an open session and returns the exit code. ``trade`` marks a write:
    it asks for confirmation and uses the simulator's key that may trade.
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Session], Awaitable[int]]
    check: Callable[[argparse.Namespace], None] = _no_check
    trade: bool = False
