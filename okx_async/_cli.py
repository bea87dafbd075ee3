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
from rich.text import Text

from . import _cli_loan
from ._client import OkxClient, Region
from ._credentials import Credentials
from ._errors import OkxBatchError, OkxConfigError, OkxError, OkxLimiterUnavailable
from ._limiter import Limiter
from ._models import MaxCollateralRedeemAmount
from ._params import check_ccy

#: Up to one burst of the rule comes back at once; more than that is worth a bar.
_PROGRESS_ABOVE = 5

#: Seconds to wait for Redis to answer the check before any request.
_REDIS_TIMEOUT = 1.0


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

    sim = commands.add_parser(
        "simulator", help="run the bundled OKX simulator",
        description="Run the bundled OKX simulator until Ctrl-C. Point a client at "
        "http://HOST:PORT with okx_async.simulator.DEMO_CREDENTIALS.",
    )
    sim.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    sim.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    sim.add_argument("--limit", type=int, default=5, help="requests per window (default 5)")
    sim.add_argument("--window", type=float, default=2.0, help="window in seconds (default 2)")
    algorithms = ["sliding-log", "fixed-window", "token-bucket", "sliding-window-counter"]
    sim.add_argument(
        "--algorithm", default="sliding-log", choices=algorithms, metavar="NAME",
        help="how the limit is counted: " + ", ".join(algorithms) + " (default sliding-log)",
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
    parser.add_argument(
        "--redis-fallback", choices=["raise", "memory"], default="raise",
        help="when Redis cannot be reached: refuse (raise, the default) or limit this "
        "process alone (memory) until it is back",
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


def _print_error(err: Console, message: str, hint: str = "") -> None:
    """One line per message, as written: never wrapped, and never read as rich markup.

    Messages come from exceptions, OKX and the user's own input, so a ``[redis]`` in
    them is text, not a style.
    """
    err.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True, highlight=False)
    if hint:
        err.print(Text(hint), soft_wrap=True, highlight=False)


@contextlib.asynccontextmanager
async def _target(
    args: argparse.Namespace, credentials: Credentials | None
) -> AsyncIterator[tuple[Credentials, str]]:
    """Where to send requests and with which keys: the simulator's unless keys are given."""
    if credentials is not None:
        yield credentials, args.base_url or Region[args.region.upper()].value
        return
    from .simulator import DEMO_CREDENTIALS, TRADE_CREDENTIALS, Simulator

    # The simulator's first demo key is read-only, as a monitoring key should be.
    keys = TRADE_CREDENTIALS if args.command == _cli_loan.WRITE else DEMO_CREDENTIALS
    async with Simulator() as sim:
        # One sentence per line, so an 80-column terminal never breaks one in two.
        Console(stderr=True).print(
            f"Using the bundled OKX simulator at {sim.base_url} with its demo keys.\n"
            "The amounts are simulated, not from OKX.",
            style="dim", highlight=False, soft_wrap=True, markup=False,
        )
        yield keys, sim.base_url


async def _limiter(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Limiter | None:
    """The Redis limiter of ``--redis-url``, once Redis answered (or memory may stand in)."""
    if not args.redis_url:
        return None
    from . import RedisLimiter

    limiter = RedisLimiter.from_url(args.redis_url, fallback=args.redis_fallback)
    stack.push_async_callback(limiter.aclose)
    if args.redis_fallback == "raise":
        await _check_redis(args.redis_url)
    return limiter


async def _check_redis(url: str) -> None:
    """Refuse before any request if Redis does not answer, rather than once per currency."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.Redis.from_url(
        url, socket_timeout=_REDIS_TIMEOUT, socket_connect_timeout=_REDIS_TIMEOUT
    )
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    try:
        async with asyncio.timeout(2 * _REDIS_TIMEOUT):
            await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        detail = str(exc) or type(exc).__name__
        if kwargs.get("password"):
            detail = detail.replace(str(kwargs["password"]), "***")
        raise OkxLimiterUnavailable(
            f"cannot use Redis at {where} ({type(exc).__name__}: {detail}); no request was "
            "sent. Check it, or pass --redis-fallback memory to limit this process alone"
        ) from None
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace) -> AsyncIterator[OkxClient]:
    """A client for the target, with the Redis limiter if asked; all closed on the way out."""
    keys = None if args.simulator else Credentials.from_env()
    async with contextlib.AsyncExitStack() as stack:
        limiter = await _limiter(args, stack)
        credentials, base_url = await stack.enter_async_context(_target(args, keys))
        yield await stack.enter_async_context(OkxClient(
            credentials, base_url=base_url, demo=args.demo, user_id=args.user_id,
            limiter=limiter,
        ))


async def _loan(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    try:
        # The write's arguments are checked, and confirmed, before anything is used.
        if args.command == _cli_loan.WRITE and not _cli_loan.confirm_write(args, err):
            return 1
        async with _client(args) as client:
            return await _cli_loan.run(args, client)
    except OkxConfigError as exc:
        _print_error(
            err, str(exc), f"Or try the bundled simulator: okx-async {args.command} --simulator"
        )
        return 2
    except (ValueError, TypeError, ImportError, OkxError) as exc:
        _print_error(err, str(exc))
        return 2


async def _max_redeem(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    try:
        # Everything the user typed is checked before a simulator, Redis or OKX is used.
        ccys = list(dict.fromkeys(check_ccy(ccy) for ccy in args.ccys))
        async with _client(args) as client:
            if args.all:
                ccys = [asset.ccy for asset in await client.collateral_assets()]
            results, errors = await _query(client, ccys, err)
    except OkxConfigError as exc:
        _print_error(
            err, str(exc), "Or try the bundled simulator: okx-async max-redeem --simulator CCY ..."
        )
        return 2
    except (ValueError, TypeError, ImportError, OkxError) as exc:
        _print_error(err, str(exc))
        return 2
    if args.json:
        print(json.dumps(_as_json(ccys, results, errors), indent=2))
    else:
        _print_table(ccys, results, errors)
    return 1 if errors else 0


Redeemable = dict[str, MaxCollateralRedeemAmount | None]


async def _query(
    client: OkxClient, ccys: list[str], err: Console
) -> tuple[Redeemable, dict[str, BaseException]]:
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
    results: Redeemable,
    errors: dict[str, BaseException],
) -> dict[str, Any]:
    return {
        "results": {
            ccy: None if r is None else {"ccy": r.ccy, "maxRedeemAmt": str(r.max_redeem_amt)}
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
    results: Redeemable,
    errors: dict[str, BaseException],
) -> None:
    table = Table(title="Maximum collateral redeem amount")
    table.add_column("Currency")
    table.add_column("Max redeem amount", justify="right")
    if errors:
        table.add_column("Error", style="red")
    for ccy in ccys:
        # Text, not str: an OKX message is not rich markup.
        result = results.get(ccy)
        row = [Text(ccy), Text("" if result is None else str(result.max_redeem_amt))]
        if errors:
            row.append(Text(str(errors.get(ccy, ""))))
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
