"""Where okx-async's CPU goes: a deterministic profile of one benchmark case.

``python -m benchmarks.profile_overhead --tenants 300`` profiles the many-tenants case
(300 user IDs x 10 queries at the real rule, one process, the simulator unlimited in
another); ``--concurrency 50`` profiles the no-limit load at that concurrency. The
case runs in a fresh process (``_isolated``) under ``cProfile`` with the process's
CPU clock, so time waiting for the network is not counted; the profiler's own
overhead inflates small, frequent calls, so read the shares, not the absolute times.
It prints the share of CPU by package and the functions with the most own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._isolated import run_isolated
from ._server import ROOT, SimServer

#: Where a function lives, by a piece of its file name; the first match wins.
PACKAGES = (
    ("/okx_async/", "okx-async"), ("/aiohttp/", "aiohttp"), ("/yarl/", "yarl"),
    ("/multidict/", "multidict"), ("asyncio/", "asyncio"), ("/json/", "json"),
    ("hmac.py", "hmac"), ("/benchmarks/", "benchmark driver"),
)


def _package(filename: str) -> str:
    for piece, name in PACKAGES:
        if piece in filename:
            return name
    return "C built-ins" if filename == "~" else "other Python"


async def profiled(run: Callable[[], Awaitable[int]], top: int) -> dict[str, Any]:
    """Run ``run()`` under cProfile on the CPU clock; the shares by package, the top functions."""
    profiler = cProfile.Profile(time.process_time)
    cpu = time.process_time()
    profiler.enable()
    failures = await run()
    profiler.disable()
    cpu = time.process_time() - cpu
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in stats.values()) or 1.0
    packages: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.items():
        name = _package(filename)
        packages[name] = packages.get(name, 0.0) + own
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "profiled_cpu_s": cpu,
        "failures": failures,
        "packages": {name: own / total for name, own in
                     sorted(packages.items(), key=lambda item: -item[1])},
        "top": [
            {"function": _name(filename, line, name), "calls": calls,
             "own": own / total, "cumulative": cumulative / total}
            for (filename, line, name), (_, calls, own, cumulative, _) in rows
        ],
    }


def _name(filename: str, line: int, name: str) -> str:
    """``package/module.py:line function``, without the machine's own directories."""
    if filename == "~":
        return name
    for marker in ("site-packages/", f"{ROOT}/", "/lib/python3."):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker == "/lib/python3.":
                filename = filename.split("/", 1)[1]
    return f"{filename}:{line} {name}"


def render(profile: dict[str, Any], requests: int) -> str:
    """The profile as two Markdown tables."""
    lines = [f"Profiled CPU: {profile['profiled_cpu_s'] / requests * 1e6:.0f} µs per request "
             "(with the profiler's own cost)", "", "| package | share of CPU |", "|---|---:|"]
    lines += [f"| {name} | {share:.1%} |" for name, share in profile["packages"].items()]
    lines += ["", "| function | calls | own | with callees |", "|---|---:|---:|---:|"]
    lines += [
        f"| `{row['function']}` | {row['calls']} | {row['own']:.1%} | {row['cumulative']:.1%} |"
        for row in profile["top"]
    ]
    return "\n".join(lines)


def profile_tenants(users: int, top: int) -> dict[str, Any]:
    """The profile of ``users`` user IDs x 10 queries, in a fresh process."""
    with SimServer(rate_limit=False) as server:
        out = run_isolated("benchmarks._cpu:tenants_okx_async", base_url=server.base_url,
                           users=users, per_user=10, profile=top)
        server.finish()
    profile: dict[str, Any] = out["profile"]
    return profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_overhead")
    case = parser.add_mutually_exclusive_group()
    case.add_argument("--tenants", type=int, metavar="USERS",
                      help="profile USERS user IDs x 10 queries at the real rule")
    case.add_argument("--concurrency", type=int, default=50,
                      help="profile the no-limit load at this concurrency (default 50)")
    parser.add_argument("--requests", type=int, default=5000,
                        help="requests of the no-limit load (default 5000)")
    parser.add_argument("--top", type=int, default=20, help="functions to list (default 20)")
    args = parser.parse_args(argv)
    if args.tenants:
        print(render(profile_tenants(args.tenants, args.top), args.tenants * 10))
        return 0
    with SimServer(rate_limit=False) as server:
        out = run_isolated("benchmarks._cpu:load_okx_async", base_url=server.base_url,
                           total=args.requests, concurrency=args.concurrency, profile=args.top)
        server.finish()
    print(render(out["profile"], args.requests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
