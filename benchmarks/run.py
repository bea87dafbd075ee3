"""Run the benchmarks, print the machine and a results table, write JSON and the plot.

Usage::

    python -m benchmarks            # full: a few minutes (N = 5, 31, 101; 10,000 at scale)
    python -m benchmarks --quick    # under a minute: smaller N, fewer requests
    python -m benchmarks --soak     # only the 400 s soak (1,000 queries, 20 tasks)
    python -m benchmarks --only overhead --only codec

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

from benchmarks import report
from benchmarks._machine import describe, machine_info
from benchmarks._server import ROOT
from benchmarks.fanout import FanoutResult, run_fanout
from benchmarks.overhead import CodecResult, LoadResult, run_codec, run_load
from benchmarks.plot import plot_requests_over_time
from benchmarks.scale import ScaleResult, run_scale
from benchmarks.soak import SoakResult, run_soak

SECTIONS = ("fanout", "overhead", "codec", "scale")
RESULTS = ROOT / "benchmarks" / "results"


@dataclasses.dataclass(frozen=True)
class Plan:
    """How big each benchmark is in one mode."""

    fanout_ns: list[int]
    latency_n: int | None
    load_requests: int
    load_rounds: int
    codec_iterations: int
    scale_ns: list[int]
    plot_n: int


FULL = Plan([5, 31, 101], 31, 2000, 5, 20_000, [1000, 10_000], 31)
QUICK = Plan([5, 16], None, 300, 1, 2000, [500, 2000], 16)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="okx-async benchmarks against ccxt and python-okx"
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes; under a minute")
    parser.add_argument("--soak", action="store_true",
                        help="run only the soak benchmark (about 400 s at the default size)")
    parser.add_argument("--soak-requests", type=int, default=1000, metavar="N")
    parser.add_argument("--soak-tasks", type=int, default=20, metavar="T")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable)")
    parser.add_argument("--json", type=Path, help="where to write results (default: "
                        "benchmarks/results/latest.json, or soak.json with --soak)")
    parser.add_argument("--plot", type=Path, help="where to draw the plot (default: "
                        "docs/img/requests-over-time.png; a results/ file with --quick)")
    return parser.parse_args(argv)


def _record(obj: Any) -> dict[str, Any]:
    """A result as JSON: its fields plus the derived numbers the tables show."""
    data = dataclasses.asdict(obj)
    for name in ("efficiency", "rps", "cpu_us", "growth"):
        if hasattr(obj, name):
            data[name] = getattr(obj, name)
    return data


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(f"\nResults written to {path}")


def _plot(fanout: list[FanoutResult], n: int, path: Path) -> None:
    runs = [
        next((r for r in fanout if r.client == client and r.n == n and r.mode == mode), None)
        for client, mode in (("okx-async", "batch method"), ("ccxt", "gather, enableRateLimit"))
    ]
    present = [r for r in runs if r is not None]
    if len(present) == len(runs):
        print(plot_requests_over_time(present, path))


def _soak(args: argparse.Namespace, header: dict[str, Any]) -> int:
    result: SoakResult = asyncio.run(run_soak(args.soak_requests, args.soak_tasks))
    print("\n## Soak at the real rule (5 per 2 s)\n")
    print(report.soak_table(result))
    _write_json(args.json or RESULTS / "soak.json", {**header, "soak": _record(result)})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
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
    fanout: list[FanoutResult] = []
    load: list[LoadResult] = []
    codec: list[CodecResult] = []
    scale: list[ScaleResult] = []
    if "fanout" in sections:
        fanout = asyncio.run(run_fanout(plan.fanout_ns, latency_n=plan.latency_n))
    if "overhead" in sections:
        load = asyncio.run(run_load(plan.load_requests, plan.load_rounds))
    if "codec" in sections:
        codec = run_codec(plan.codec_iterations)
    if "scale" in sections:
        scale = run_scale(plan.scale_ns)
    checks = report.targets(fanout, load, scale)
    duration = time.monotonic() - began

    tables = {
        "Fan-out at the real rule (5 per 2 s)": fanout and report.fanout_table(fanout),
        "Client overhead (simulator unlimited, in another process)":
            load and report.load_table(load),
        "Signing + decoding per request, no network": codec and report.codec_table(codec),
        "Scale (5 per 10 ms)": scale and report.scale_table(scale),
    }
    for title, rendered in tables.items():
        if rendered:  # an empty list: the section was not run
            print(f"\n## {title}\n\n{rendered}")
    print(f"\n## Targets\n\n{report.targets_table(checks)}")
    print(f"\nTook {duration:.0f} s.")

    _write_json(args.json or RESULTS / "latest.json", {
        **header,
        "duration_s": duration,
        "fanout": [_record(r) for r in fanout],
        "overhead": [_record(r) for r in load],
        "codec": [_record(r) for r in codec],
        "scale": [_record(r) for r in scale],
        "targets": [dataclasses.asdict(t) for t in checks],
    })
    if fanout:
        default_plot = (RESULTS / "requests-over-time-quick.png" if args.quick
                        else ROOT / "docs" / "img" / "requests-over-time.png")
        _plot(fanout, plan.plot_n, args.plot or default_plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
