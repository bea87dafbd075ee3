"""The ``okx-async`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import _cli_loan
from ._client import OkxClient, Region
from ._credentials import Credentials
from ._errors import OkxBatchError, OkxConfigError, OkxError
from ._limiter import Limiter
from ._models import MaxCollateralRedeemAmount

#: Up to one burst of the rule comes back at once; more than that is worth a bar.
_PROGRESS_ABOVE = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okx-async", description="Async OKX v5 client with a per-user-ID rate limiter."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    commands = parser.add_subparsers(dest="command", required=True)

    redeem = commands.add_parser(
        "max-redeem",
        help="maximum collateral redeem amount per currency (Flexible Loan)",
        description="Query the maximum collateral redeem amount of each currency. Reads "
        "OKX_API_KEY, OKX_SECRET_KEY and OKX_PASSPHRASE unless --simulator is given.",
    )
    redeem.add_argument("ccys", nargs="*", metavar="CCY", help="currency codes, e.g. USDT BTC")
    redeem.add_argument(
        "--all", action="store_true", help="every currency of your collateral (collateral-assets)"
    )
    _add_connection_options(redeem)
    _cli_loan.add_commands(commands, _add_connection_options)

    sim = commands.add_parser("simulator", help="run the bundled OKX simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8080)
    sim.add_argument("--limit", type=int, default=5, help="requests per window (default 5)")
    sim.add_argument("--window", type=float, default=2.0, help="window in seconds (default 2)")
    sim.add_argument(
        "--algorithm", default="sliding-log",
        choices=["sliding-log", "fixed-window", "token-bucket", "sliding-window-counter"],
    )
    return parser


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Where to send requests, with which keys, and how to print: shared by every query."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--demo", action="store_true", help="use OKX demo trading")
    parser.add_argument(
        "--simulator", action="store_true",
        help="query the bundled local OKX simulator with its fake demo keys (no OKX account)",
    )
    host = parser.add_mutually_exclusive_group()
    host.add_argument(
        "--region", choices=[r.name.lower() for r in Region], default="global",
        help="OKX host: global (www.okx.com), eea or us",
    )
    host.add_argument("--base-url", help="any other OKX-compatible base URL")
    parser.add_argument("--user-id", help="your OKX user id (saves one request)")
    parser.add_argument(
        "--redis-url", help="share the rate limit with other processes through this Redis"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``okx-async`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "max-redeem" and bool(args.ccys) == args.all:
        parser.error("max-redeem takes currency codes or --all (one of the two)")
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "simulator":
            return _run_simulator(args)
        if args.command in _cli_loan.COMMANDS:
            return asyncio.run(_loan(args))
        return asyncio.run(_max_redeem(args))
    except KeyboardInterrupt:
        return 130


def _run_simulator(args: argparse.Namespace) -> int:
    from .simulator import serve

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(
            args.host, args.port, limit=args.limit, window=args.window, algorithm=args.algorithm
        ))
    return 0


@contextlib.asynccontextmanager
async def _target(args: argparse.Namespace) -> AsyncIterator[tuple[Credentials, str]]:
    """Where to send requests and with which keys; real keys unless --simulator."""
    if args.simulator:
        from .simulator import DEMO_CREDENTIALS, TRADE_CREDENTIALS, Simulator

        # The simulator's first demo key is read-only, as a monitoring key should be.
        keys = TRADE_CREDENTIALS if args.command == _cli_loan.WRITE else DEMO_CREDENTIALS
        async with Simulator() as sim:
            Console(stderr=True).print(
                f"Using the bundled OKX simulator at {sim.base_url} with its demo keys: "
                "the amounts are simulated, not from OKX.", style="dim", highlight=False,
            )
            yield keys, sim.base_url
        return
    credentials = Credentials.from_env()
    yield credentials, args.base_url or Region[args.region.upper()].value


def _limiter(args: argparse.Namespace) -> Limiter | None:
    if not args.redis_url:
        return None
    from . import RedisLimiter

    limiter: Limiter = RedisLimiter.from_url(args.redis_url)
    return limiter


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace) -> AsyncIterator[OkxClient]:
    """A client for the target, with the Redis limiter if asked; all closed on the way out."""
    async with contextlib.AsyncExitStack() as stack:
        credentials, base_url = await stack.enter_async_context(_target(args))
        limiter = _limiter(args)
        if limiter is not None:
            stack.push_async_callback(limiter.aclose)
        yield await stack.enter_async_context(OkxClient(
            credentials, base_url=base_url, demo=args.demo, user_id=args.user_id,
            limiter=limiter,
        ))


async def _loan(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    try:
        if args.command == _cli_loan.WRITE and not _cli_loan.confirm_write(args, err):
            return 1
        async with _client(args) as client:
            return await _cli_loan.run(args, client)
    except OkxConfigError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        err.print(f"Or try the bundled simulator: okx-async {args.command} --simulator ...")
        return 2
    except (ValueError, TypeError, ImportError, OkxError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return 2


async def _max_redeem(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    ccys: list[str] = list(dict.fromkeys(args.ccys))
    try:
        async with _client(args) as client:
            if args.all:
                ccys = [asset.ccy for asset in await client.collateral_assets()]
            results, errors = await _query(client, ccys, err)
    except OkxConfigError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        err.print("Or try the bundled simulator: okx-async max-redeem --simulator CCY ...")
        return 2
    except (ValueError, TypeError, ImportError, OkxError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return 2
    if args.json:
        print(json.dumps(_as_json(ccys, results, errors), indent=2))
    else:
        _print_table(ccys, results, errors)
    return 1 if errors else 0


async def _query(
    client: OkxClient, ccys: list[str], err: Console
) -> tuple[dict[str, MaxCollateralRedeemAmount], dict[str, BaseException]]:
    show = err.is_terminal and len(ccys) > _PROGRESS_ABOVE
    progress = Progress(
        TextColumn("max-redeem"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True, disable=not show,
    )
    with progress:
        task = progress.add_task("", total=len(ccys))
        try:
            results = await client.max_collateral_redeem_amounts(
                ccys, on_result=lambda _ccy, _outcome: progress.advance(task)
            )
        except OkxBatchError as exc:
            return exc.results, exc.errors
    return results, {}


def _as_json(
    ccys: list[str],
    results: dict[str, MaxCollateralRedeemAmount],
    errors: dict[str, BaseException],
) -> dict[str, Any]:
    return {
        "results": {
            ccy: {"ccy": r.ccy, "maxRedeemAmt": str(r.max_redeem_amt)}
            for ccy, r in results.items()
        },
        "errors": {
            ccy: {"error": type(exc).__name__, "code": getattr(exc, "code", None),
                  "message": str(exc)}
            for ccy, exc in errors.items()
        },
    }


def _print_table(
    ccys: list[str],
    results: dict[str, MaxCollateralRedeemAmount],
    errors: dict[str, BaseException],
) -> None:
    table = Table(title="Maximum collateral redeem amount")
    table.add_column("Currency")
    table.add_column("Max redeem amount", justify="right")
    if errors:
        table.add_column("Error", style="red")
    for ccy in ccys:
        row = [ccy, str(results[ccy].max_redeem_amt) if ccy in results else ""]
        if errors:
            row.append(str(errors.get(ccy, "")))
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
