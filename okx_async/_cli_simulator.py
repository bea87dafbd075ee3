"""``okx-async simulator``: the bundled OKX simulator over HTTP, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno

from ._cli_args import count, port, seconds
from ._cli_exit import OK, Refused

ALGORITHMS = ("sliding-log", "fixed-window", "token-bucket", "sliding-window-counter")


HELP = "run the bundled OKX simulator"
DESCRIPTION = ("Run the bundled OKX simulator until Ctrl-C. It prints the keys to use and "
               "the command line that reaches it.")


def arguments(sim: argparse.ArgumentParser) -> None:
    """The ``simulator`` subcommand's flags."""
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=port, default=8080,
                     help="port to listen on (default 8080; 0 picks a free one)")
    sim.add_argument("--limit", type=count, default=5, help="requests per window (default 5)")
    sim.add_argument("--window", type=seconds, default=2.0,
                     help="window in seconds (default 2)")
    sim.add_argument(
        "--algorithm", default="sliding-log", choices=ALGORITHMS, metavar="NAME",
        help="how the limit is counted: " + ", ".join(ALGORITHMS) + " (default sliding-log)",
    )


def banner(base_url: str) -> list[str]:
    """What the running simulator prints: where it is, its keys, and how to reach it."""
    from .simulator import DEMO_CREDENTIALS, TRADE_CREDENTIALS

    read, trade = DEMO_CREDENTIALS, TRADE_CREDENTIALS
    return [
        f"OKX simulator listening on {base_url}",
        "Its keys are fake, public test values that work only here:",
        f"  okx_async.simulator.DEMO_CREDENTIALS   (read only): api key {read.api_key}, "
        f"secret {read.secret_key}, passphrase {read.passphrase}",
        f"  okx_async.simulator.TRADE_CREDENTIALS  (read and trade): api key {trade.api_key}, "
        f"secret {trade.secret_key}, passphrase {trade.passphrase}",
        "From Python: OkxClient(DEMO_CREDENTIALS, base_url=" + repr(base_url) + ")",
        "From the command line:",
        f"  OKX_API_KEY={read.api_key} OKX_SECRET_KEY={read.secret_key} "
        f"OKX_PASSPHRASE={read.passphrase} okx-async loan-info --base-url {base_url}",
        "Press Ctrl+C to stop.",
    ]


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C, which is how it is meant to end: exit code 0."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return OK


async def _serve(args: argparse.Namespace) -> None:
    from .simulator import Simulator

    sim = Simulator(
        host=args.host, port=args.port, limit=args.limit, window=args.window,
        algorithm=args.algorithm,
    )
    try:
        await sim.start()
    except OSError as exc:
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else (
            exc.strerror or str(exc)
        )
        raise Refused(
            f"cannot listen on {args.host}:{args.port}: {reason}; pick another with "
            "--port (0 picks a free one)"
        ) from None
    try:
        for text in banner(sim.base_url):
            print(text, flush=True)
        await asyncio.Event().wait()
    finally:
        await sim.close()
