"""The ``okx-async`` command line: parse, check, run one subcommand, exit with its code.

Everything the user typed is checked first (argparse and each command's ``check``),
then the keys, then, in the session, Redis, the target and, for a write, the order
and the confirmation. Every way a command ends maps to one exit code
(:mod:`okx_async._cli_exit`); docs/cli.md documents them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn

from rich.console import Console
from rich.text import Text

from . import _cli_loan, _cli_redeem, _cli_simulator, _cli_write
from ._cli_args import base_url, retries, user_id
from ._cli_command import Command
from ._cli_exit import EXPECTED, INTERRUPTED, REFUSED, UsageError, describe, exit_code
from ._cli_log import logging_for
from ._cli_session import credentials_for, open_session, target_url
from ._client import Region
from ._errors import OkxConfigError

COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (_cli_redeem.COMMAND, *_cli_loan.COMMANDS, *_cli_write.COMMANDS)
}


def _version() -> str:
    try:
        return version("okx-async")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose refusal of one value is one line.

    A value a flag refuses (``argument --port: must be from 0 to 65535``) is one line
    naming the flag; a command line of the wrong shape (a missing argument, an unknown
    flag) gets the usage first, as argparse prints it.
    """

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument "):
            self.exit(REFUSED, f"{self.prog}: error: {message}\n")
        super().error(message)


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser, and each subcommand's parser by name (for its usage)."""
    parser = _Parser(
        prog="okx-async", description="Async OKX v5 client with a per-user-ID rate limiter.",
    )
    parser.add_argument("--version", action="version", version=f"okx-async {_version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-vv: debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for command in COMMANDS.values():
        sub = commands.add_parser(
            command.name, help=command.help, description=command.help[0].upper()
            + command.help[1:] + ". Reads OKX_API_KEY, OKX_SECRET_KEY and OKX_PASSPHRASE "
            "unless --simulator is given.",
        )
        command.arguments(sub)
        _connection_options(sub)
        subparsers[command.name] = sub
    _cli_simulator.arguments(commands.add_parser(
        "simulator", help=_cli_simulator.HELP, description=_cli_simulator.DESCRIPTION
    ))
    return parser, subparsers


def _connection_options(parser: argparse.ArgumentParser) -> None:
    """Where to send requests, with which keys, and how to print: shared by every query."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "-v", "--verbose", dest="verbose_here", action="count", default=0,
        help="log more (-vv: debug)",
    )
    parser.add_argument(
        "--simulator", action="store_true",
        help="query the bundled local OKX simulator with its fake demo keys (no OKX account)",
    )
    parser.add_argument("--demo", action="store_true", help="use OKX demo trading")
    parser.add_argument(
        "--region", choices=[r.name.lower() for r in Region],
        help="OKX host: global (www.okx.com, the default), eea or us",
    )
    parser.add_argument("--base-url", type=base_url, help="any other OKX-compatible base URL")
    parser.add_argument("--user-id", type=user_id, help="your OKX user ID (saves one request)")
    parser.add_argument(
        "--retries", type=retries, metavar="N",
        help="send a failed request again at most N times (default 5; 0: send each once)",
    )
    parser.add_argument(
        "--redis-url", help="share the rate limit with other processes through this Redis "
        "(needs the redis extra)",
    )
    parser.add_argument(
        "--redis-fallback", choices=["raise", "memory"],
        help="with --redis-url, when Redis cannot be reached: refuse (raise, the default) "
        "or limit this process alone (memory) until it is back",
    )


def _check_connection(args: argparse.Namespace) -> None:
    """Refuse flags that do not go together, before anything is used."""
    if args.simulator and (args.base_url or args.region):
        raise UsageError("--simulator is the target: not with --base-url or --region")
    if args.base_url and args.region:
        raise UsageError("--base-url and --region both name the host: give one")
    if args.redis_fallback and not args.redis_url:
        raise UsageError("--redis-fallback applies to --redis-url, which is not given")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``okx-async`` command; returns the exit code."""
    parser, subparsers = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error printed by argparse
        return exc.code if isinstance(exc.code, int) else REFUSED
    if args.command == "simulator":
        return _guarded(lambda: _cli_simulator.run(args), args.command)
    command = COMMANDS[args.command]

    def checked_run() -> int:
        try:
            _check_connection(args)
            command.check(args)
        except UsageError as exc:
            try:
                subparsers[args.command].error(str(exc))  # its usage, then the message
            except SystemExit as usage:
                return usage.code if isinstance(usage.code, int) else REFUSED
        return _run(args, command)

    with logging_for(args.verbose + args.verbose_here):
        return _guarded(checked_run, args.command, target_url(args))


def _run(args: argparse.Namespace, command: Command) -> int:
    credentials = credentials_for(args)

    async def session() -> int:
        async with open_session(args, credentials, trade=command.trade) as opened:
            return await command.run(args, opened)

    if args.simulator and not args.redis_url:
        # The simulator in-process, on a clock that jumps to the next timer: OKX's
        # real rule, with no time spent waiting for it. Redis keeps real time.
        from .simulator._virtual import run as run_virtual

        return run_virtual(session())
    return asyncio.run(session())


def _guarded(run: Callable[[], int], name: str, base_url: str = "") -> int:
    """Run, and turn how it ended into one error line and an exit code."""
    try:
        return run()
    except KeyboardInterrupt:
        return INTERRUPTED
    except EXPECTED as exc:  # each ends in one line and a documented code
        message, hint = describe(exc, base_url)
        if isinstance(exc, OkxConfigError) and not hint:
            hint = f"Or try the bundled simulator: okx-async {name} --simulator"
        err = Console(stderr=True)
        err.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True, highlight=False)
        if hint:
            err.print(Text(hint), soft_wrap=True, highlight=False)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
