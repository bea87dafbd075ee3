"""Run the benchmarks, print the machine and a results table, write JSON and the plot.

Usage::

    python -m benchmarks            # full: about 8 minutes on 2 cores
    python -m benchmarks --quick    # smaller N, fewer requests: about 1.5 minutes
    python -m benchmarks --soak     # only the 400 s soak (1,000 queries, 20 tasks)
    python -m benchmarks --only links --only foreign
    python -m benchmarks --publish  # also update benchmarks/results/latest.json and docs/img

Results go to ``benchmarks/results/local/`` (ignored by git) unless ``--output DIR``
says otherwise; only ``--publish`` touches the tracked results and plot.
Benchmarks measure and report; they never fail on a missed target (that is what the
"targets" table is for). The exit status is non-zero only if a benchmark crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/run.py``: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "fanout", "links", "foreign", "swc", "tenants", "profile", "overhead", "floors", "codec",
    "scale",
)
RESULTS = ROOT / "benchmarks" / "results"
#: Where a run writes unless told otherwise: ignored by git.
LOCAL = RESULTS / "local"
PUBLISHED_PLOT = ROOT / "docs" / "img" / "requests-over-time.png"
#: Functions listed in the profile of the many-tenants case.
PROFILE_TOP = 15
MISSING_EXTRA = (
    "the benchmarks need the bench extra ({missing} is missing): "
    "pip install -e '.[bench]'"
)


@dataclasses.dataclass(frozen=True)
class Plan:
    """How big each benchmark is in one mode."""

    fanout_ns: list[int]
    #: Link profile -> sizes, each run by okx-async and ccxt.
    link_ns: dict[str, list[int]]
    foreign_n: int
    #: Runs at random start phases against a sliding-window counter, per link.
    swc: tuple[int, tuple[str, ...]]
    #: User counts, queries per user, rounds.
    tenants: tuple[list[int], int, int]
    load_requests: int
    load_rounds: int
    #: Requests and rounds of each form and concurrency of the bare GET.
    floors: tuple[int, int]
    codec_iterations: int
    scale_ns: list[int]
    plot_n: int


FULL = Plan(
    [5, 31, 101],
    {"jitter40": [31, 101], "wan50": [5, 31], "wan150": [5, 31], "slow": [5, 20]},
    30, (20, ("loopback",)), ([300, 1000], 10, 3), 3000, 5, (3000, 3), 20_000, [1000, 10_000], 31,
)
QUICK = Plan(
    [5, 16], {"wan150": [16], "slow": [10]}, 15, (2, ("loopback",)), ([100], 10, 1), 500, 1,
    (500, 1), 2000, [500, 2000], 16,
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="okx-async benchmarks against ccxt and python-okx"
    )
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes; about 1.5 minutes")
    parser.add_argument("--soak", action="store_true",
                        help="run only the soak benchmark (about 400 s at the default size)")
    parser.add_argument("--soak-requests", type=int, default=1000, metavar="N")
    parser.add_argument("--soak-tasks", type=int, default=20, metavar="T")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable)")
    parser.add_argument("--output", type=Path, default=LOCAL, metavar="DIR",
                        help="directory for results.json (soak.json) and the plot "
                        "(default: benchmarks/results/local, ignored by git)")
    parser.add_argument("--publish", action="store_true",
                        help="write the tracked benchmarks/results/latest.json (soak.json) "
                        "and docs/img/requests-over-time.png instead")
    parser.add_argument("--json", type=Path, help="write the results to exactly this file")
    parser.add_argument("--plot", type=Path, help="draw the plot to exactly this file")
    return parser.parse_args(argv)


def _json_path(args: argparse.Namespace, name: str) -> Path:
    if args.json:
        return Path(args.json)
    if args.publish:
        return RESULTS / ("soak.json" if name == "soak" else "latest.json")
    return Path(args.output) / f"{name}.json"


def _plot_path(args: argparse.Namespace) -> Path:
    if args.plot:
        return Path(args.plot)
    return PUBLISHED_PLOT if args.publish else Path(args.output) / "requests-over-time.png"


def _record(obj: Any) -> dict[str, Any]:
    """A result as JSON: its fields plus the derived numbers the tables show."""
    data = dataclasses.asdict(obj)
    for name in ("efficiency", "rps", "cpu_us", "growth", "ratio"):
        if hasattr(obj, name):
            data[name] = getattr(obj, name)
    return data


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(f"\nResults written to {path}")


def _soak(args: argparse.Namespace, header: dict[str, Any]) -> int:
    from benchmarks import report
    from benchmarks.soak import run_soak

    result = asyncio.run(run_soak(args.soak_requests, args.soak_tasks))
    print("\n## Soak at the real rule (5 per 2 s)\n")
    print(report.soak_table(result))
    _write_json(_json_path(args, "soak"), {**header, "soak": _record(result)})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        return _run(args)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("ccxt", "okx", "psutil", "matplotlib",
                                                   "redis"):
            print(MISSING_EXTRA.format(missing=exc.name), file=sys.stderr)
            return 2
        raise


def _run(args: argparse.Namespace) -> int:
    # Imported here, after the arguments: --help works without the bench extra.
    from benchmarks import report
    from benchmarks._machine import describe, machine_info
    from benchmarks.fanout import FanoutResult, run_fanout, run_links
    from benchmarks.foreign import ForeignResult, run_foreign
    from benchmarks.overhead import (
        CodecResult,
        FloorResult,
        LoadResult,
        run_codec,
        run_floors,
        run_load,
    )
    from benchmarks.plot import plot_link_panels
    from benchmarks.profile_overhead import profile_tenants, render
    from benchmarks.scale import ScaleResult, run_scale
    from benchmarks.swc import SwcRun, run_swc
    from benchmarks.tenants import TenantsResult, run_tenants

    plan = QUICK if args.quick else FULL
    info = machine_info()
    print(describe(info), flush=True)
    header: dict[str, Any] = {
        "mode": "soak" if args.soak else "quick" if args.quick else "full",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
    }
    if args.soak:
        return _soak(args, header)
    sections = set(args.only or SECTIONS)
    began = time.monotonic()
    print("\nRunning (each line is one case):", file=sys.stderr, flush=True)
    run = sections.__contains__
    fanout: list[FanoutResult] = (
        asyncio.run(run_fanout(plan.fanout_ns, latency_n=None)) if run("fanout") else [])
    links: list[FanoutResult] = asyncio.run(run_links(plan.link_ns)) if run("links") else []
    foreign: list[ForeignResult] = (
        asyncio.run(run_foreign(plan.foreign_n)) if run("foreign") else [])
    swc: list[SwcRun] = asyncio.run(run_swc(plan.swc[0], links=plan.swc[1])) if run("swc") else []
    users, per_user, rounds = plan.tenants if run("tenants") else ([], 0, 0)
    tenants: list[TenantsResult] = [
        r for count in users for r in run_tenants(count, per_user, rounds)]
    load: list[LoadResult] = (
        run_load(plan.load_requests, plan.load_rounds) if run("overhead") else [])
    floors: list[FloorResult] = run_floors(*plan.floors) if run("floors") else []
    profile = profile_tenants(plan.tenants[0][0], PROFILE_TOP) if run("profile") else None
    codec: list[CodecResult] = run_codec(plan.codec_iterations) if run("codec") else []
    scale: list[ScaleResult] = run_scale(plan.scale_ns) if run("scale") else []
    checks = report.targets(fanout, load, scale, links=links, foreign=foreign, tenants=tenants,
                            swc=swc)
    duration = time.monotonic() - began

    tables = {
        "Fan-out at the real rule (5 per 2 s)": fanout and report.fanout_table(fanout),
        "Link profiles (okx-async and ccxt, 5 per 2 s; least includes the least round trip)":
            links and report.links_table(links),
        "Foreign traffic (another program on the user, 1 per 1.5 s)":
            foreign and report.foreign_table(foreign),
        "Sliding-window counter, 30 queries at random start phases":
            swc and report.swc_table(swc),
        "Many tenants in one process (server unlimited, in another process)":
            tenants and report.tenants_table(tenants),
        "Client overhead (simulator unlimited, in another process)":
            load and report.load_table(load),
        "The floor: forms of the bare signed GET, CPU µs per request":
            floors and report.floors_table(floors),
        f"Where okx-async's CPU goes: {plan.tenants[0][0]} users x 10, profiled":
            profile and render(profile, plan.tenants[0][0] * 10),
        "Signing + decoding per request, no network": codec and report.codec_table(codec),
        "Scale (5 per 10 ms)": scale and report.scale_table(scale),
    }
    for title, rendered in tables.items():
        if rendered:  # an empty list: the section was not run
            print(f"\n## {title}\n\n{rendered}")
    print(f"\n## Targets\n\n{report.targets_table(checks)}")
    print(f"\nTook {duration:.0f} s.")

    _write_json(_json_path(args, "results"), {
        **header,
        "duration_s": duration,
        "fanout": [_record(r) for r in fanout],
        "links": [_record(r) for r in links],
        "foreign": [_record(r) for r in foreign],
        "swc": [_record(r) for r in swc],
        "tenants": [_record(r) for r in tenants],
        "overhead": [_record(r) for r in load],
        "floors": [_record(r) for r in floors],
        "profile": profile,
        "codec": [_record(r) for r in codec],
        "scale": [_record(r) for r in scale],
        "targets": [dataclasses.asdict(t) for t in checks],
    })
    if fanout or links:
        print(plot_link_panels(fanout, links, plan.plot_n, _plot_path(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
