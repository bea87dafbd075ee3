"""Turn results into Markdown tables (readable in a terminal too) and target checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._common import LINKS, WINDOW
from .fanout import FanoutResult
from .foreign import ForeignResult
from .overhead import CodecResult, FloorResult, LoadResult
from .scale import ScaleResult
from .soak import SoakResult
from .swc import SwcRun
from .tenants import FLOOR, TenantsResult

#: The targets.
MIN_EFFICIENCY = 0.97
MAX_CPU_RATIO = 0.5
MAX_PEAK_MB = 100.0
#: Memory per extra currency may be this many times the size of its result: the
#: allocator rounds up, and a dict resizes by doubling.
MAX_GROWTH_FACTOR = 2.0
#: "No waiting" for N <= 5: a grant takes microseconds, so anything under 1 ms.
NO_WAIT_MS = 1.0
SLOW_ANSWER = 1.5
MAX_SLOW_RATIO = 1.15
MAX_OVERHEAD_VS_FLOOR = 1.15
MAX_TENANTS_VS_FLOOR = 2.0
MAX_FOREIGN_REJECTIONS = 3
MAX_FOREIGN_RATIO = 1.3
MAX_SWC_REJECTIONS = 2


@dataclass
class Target:
    """One target and how this run did against it."""

    name: str
    measured: str
    met: bool | None  # None: not measured in this run


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table with padded columns; numbers right-aligned."""
    cells = [[str(c) for c in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        padded = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w + 1) + ":" if num else "-" * (w + 2)
            for w, num in zip(widths, numeric, strict=True)]
    return "\n".join([line(cells[0]), "|" + "|".join(rule) + "|", *map(line, cells[1:])])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("x%"))
    except ValueError:
        return text == "-"
    return True


def fanout_table(results: list[FanoutResult]) -> str:
    return table(
        ["client", "mode", "N", "wall s", "least s", "efficiency", "round trips",
         "max wait ms", "results", "50011", "max in 2 s"],
        [
            [r.client, r.mode, r.n, r.wall_s, r.least_s, r.efficiency, r.round_trips,
             r.max_wait_ms, r.successes, r.rejections, r.max_per_window]
            for r in results
        ],
    )


def _base(results: Sequence[LoadResult], concurrency: int) -> LoadResult | None:
    return next((r for r in results if r.client == "okx-async" and r.concurrency == concurrency),
                None)


def load_table(results: list[LoadResult]) -> str:
    rows: list[list[object]] = []
    for r in results:
        base = _base(results, r.concurrency)
        floor = _floor(results, r.concurrency)
        rows.append([
            r.client, r.concurrency, r.requests, round(r.rps), round(r.cpu_us),
            f"{r.cpu_us / floor.cpu_us:.2f}x" if floor else None,
            f"{r.cpu_us / base.cpu_us:.2f}x" if base else None,
            f"{r.rps / base.rps:.2f}x" if base else None,
            " / ".join(f"{v:.0f}" for v in r.cpu_us_rounds),
            r.failures,
        ])
    return table(
        ["client", "concurrency", "requests", "req/s", "CPU µs/req", "CPU vs floor",
         "CPU vs okx-async", "req/s vs okx-async", "rounds µs", "failed"],
        rows,
    )


def _floor(results: Sequence[LoadResult], concurrency: int) -> LoadResult | None:
    return next((r for r in results
                 if r.client == "aiohttp floor" and r.concurrency == concurrency), None)


def floors_table(results: list[FloorResult]) -> str:
    forms = list(dict.fromkeys(r.form for r in results))
    concurrencies = sorted({r.concurrency for r in results})
    cell = {(r.form, r.concurrency): r for r in results}
    return table(
        ["form", *(f"{c} at once" for c in concurrencies)],
        [[form, *(round(cell[form, c].cpu_us) if (form, c) in cell else None
                  for c in concurrencies)] for form in forms],
    )


def codec_table(results: list[CodecResult]) -> str:
    base = next((r for r in results if r.client == "okx-async"), None)
    return table(
        ["client", "µs/request", "vs okx-async"],
        [
            [r.client, r.us_per_request,
             f"{r.us_per_request / base.us_per_request:.2f}x" if base else None]
            for r in results
        ],
    )


def scale_table(results: list[ScaleResult]) -> str:
    return table(
        ["N", "wall s", "least s", "efficiency", "peak RSS MB", "sampled MB", "tasks",
         "connections", "50011", "max in window", "result B/ccy"],
        [
            [r.n, r.wall_s, r.least_s, r.efficiency, r.peak_rss_mb, r.sampled_peak_rss_mb,
             r.peak_tasks, r.peak_connections, r.rejections, r.max_per_window,
             round(r.result_bytes_per_ccy)]
            for r in results
        ],
    )


def soak_table(result: SoakResult) -> str:
    r = result
    return table(
        ["N", "tasks", "wall s", "least s", "efficiency", "results", "50011", "max in 2 s",
         "RSS growth MB"],
        [[r.n, r.tasks, r.wall_s, r.least_s, r.efficiency, r.successes, r.rejections,
          r.max_per_window, r.peak_rss_growth_mb]],
    )


def growth_per_ccy(results: list[ScaleResult]) -> float | None:
    """Extra peak memory per extra currency between the smallest and largest run, bytes."""
    if len(results) < 2:
        return None
    small, big = min(results, key=lambda r: r.n), max(results, key=lambda r: r.n)
    return (big.peak_rss_mb - small.peak_rss_mb) * 1024 * 1024 / (big.n - small.n)


def targets(
    fanout: list[FanoutResult],
    load: list[LoadResult],
    scale: list[ScaleResult],
    *,
    links: list[FanoutResult] | None = None,
    foreign: list[ForeignResult] | None = None,
    tenants: list[TenantsResult] | None = None,
    swc: list[SwcRun] | None = None,
) -> list[Target]:
    """Check the targets against whatever this run measured."""
    checks: list[Target] = network_targets(links or [], load, foreign or [], tenants or [])
    for link in dict.fromkeys(r.link for r in swc or []):
        runs = [r for r in swc or [] if r.link == link]
        worst = max(r.rejections for r in runs)
        checks.append(Target(
            f"sliding-window counter, {LINKS[link].name}, any start phase: "
            f"<= {MAX_SWC_REJECTIONS} rejections, every result",
            f"{worst} at most over {len(runs)} runs "
            f"({sum(r.rejections for r in runs)} in all)",
            worst <= MAX_SWC_REJECTIONS and all(r.successes == r.n for r in runs),
        ))
    batch = {r.n: r for r in fanout if r.client == "okx-async" and r.mode == "batch method"}
    for n in (31, 101):
        r = batch.get(n)
        checks.append(Target(
            f"okx-async N={n}: efficiency >= {MIN_EFFICIENCY}, no 50011",
            f"{r.efficiency:.3f}, {r.rejections} rejections" if r and r.efficiency else "not run",
            (r.efficiency >= MIN_EFFICIENCY and r.rejections == 0)
            if r and r.efficiency is not None else None,
        ))
    small = [r for n, r in sorted(batch.items()) if n <= 5]
    for r in small:
        checks.append(Target(
            f"okx-async N={r.n}: one round trip, no waiting",
            f"{r.round_trips} round trip(s), longest wait {r.max_wait_ms:.3f} ms, "
            f"{r.wall_s * 1000:.1f} ms in all",
            r.round_trips == 1 and (r.max_wait_ms or 0.0) < NO_WAIT_MS,
        ))
    for concurrency in sorted({r.concurrency for r in load}):
        base = _base(load, concurrency)
        for other in ("ccxt", "python-okx"):
            them = next((r for r in load if r.client == other and r.concurrency == concurrency),
                        None)
            if base is None or them is None:
                continue
            ratio = base.cpu_us / them.cpu_us
            checks.append(Target(
                f"CPU/request <= {MAX_CPU_RATIO}x {other}, concurrency {concurrency}",
                f"{base.cpu_us:.0f} vs {them.cpu_us:.0f} µs = {ratio:.2f}x",
                ratio <= MAX_CPU_RATIO,
            ))
    big = next((r for r in scale if r.n >= 10_000), None)
    checks.append(Target(
        f"peak memory for 10,000 < {MAX_PEAK_MB:g} MB",
        f"+{big.peak_rss_mb:.1f} MB" if big else "not run",
        big.peak_rss_mb < MAX_PEAK_MB if big else None,
    ))
    growth = growth_per_ccy(scale)
    if growth is not None:
        result_size = max(r.result_bytes_per_ccy for r in scale)
        checks.append(Target(
            "memory grows no faster than the results",
            f"{growth:.0f} B per extra currency vs {result_size:.0f} B of result",
            growth <= MAX_GROWTH_FACTOR * result_size,
        ))
    return checks


def targets_table(checks: list[Target]) -> str:
    verdict = {True: "met", False: "MISSED", None: "-"}
    return table(["target", "measured", "verdict"],
                 [[t.name, t.measured, verdict[t.met]] for t in checks])


def links_table(results: list[FanoutResult]) -> str:
    return table(
        ["link", "client", "N", "wall s", "least s", "efficiency", "round trips", "results",
         "50011", "max in 2 s"],
        [
            [LINKS[r.link].name, r.client, r.n, r.wall_s, r.least_s, r.efficiency,
             r.round_trips, r.successes, r.rejections, r.max_per_window]
            for r in results
        ],
    )


def foreign_table(results: list[ForeignResult]) -> str:
    return table(
        ["client", "N", "wall s", "least s", "vs least", "results", "50011 (ours)",
         "theirs refused"],
        [
            [r.client, r.n, r.wall_s, r.least_s, f"{r.ratio:.2f}x", r.successes, r.rejections,
             f"{r.foreign_refused}/{r.foreign_sent}"]
            for r in results
        ],
    )


def tenants_table(results: list[TenantsResult]) -> str:
    rows: list[list[object]] = []
    for r in results:
        floor = next((f for f in results if f.client == FLOOR and f.users == r.users), None)
        rows.append([
            r.client, f"{r.users} x {r.per_user}", r.wall_s, round(r.cpu_us),
            f"{r.cpu_us / floor.cpu_us:.2f}x" if floor else None,
            " / ".join(f"{v:.0f}" for v in r.cpu_us_rounds), r.peak_tasks,
            r.peak_rss_growth_mb, r.failures,
        ])
    return table(
        ["client", "users x queries", "wall s", "CPU µs/req", "vs floor", "rounds µs",
         "peak tasks", "RSS growth MB", "failed"],
        rows,
    )


def network_targets(
    links: list[FanoutResult],
    load: list[LoadResult],
    foreign: list[ForeignResult],
    tenants: list[TenantsResult],
) -> list[Target]:
    """The goals on links, CPU and foreign traffic, for whatever this run measured."""
    checks: list[Target] = []
    ours = {(r.link, r.n): r for r in links if r.client == "okx-async"}
    ccxt = {(r.link, r.n): r for r in links if r.client == "ccxt"}
    for key, n in (("wan150", 31), ("jitter40", 31), ("jitter40", 101)):
        r = ours.get((key, n))
        if r is None or r.efficiency is None:
            continue
        them = ccxt.get((key, n))
        beside = f"; ccxt {them.efficiency:.3f}" if them and them.efficiency else ""
        checks.append(Target(
            f"{LINKS[key].name}, N={n}: efficiency >= {MIN_EFFICIENCY}, no 50011",
            f"{r.efficiency:.3f}, {r.rejections} rejections{beside}",
            r.efficiency >= MIN_EFFICIENCY and r.rejections == 0,
        ))
    slow = ours.get(("slow", 20))
    if slow is not None:
        goal = MAX_SLOW_RATIO * (3 * WINDOW + SLOW_ANSWER)
        them = ccxt.get(("slow", 20))
        ahead = them is None or slow.wall_s < them.wall_s
        checks.append(Target(
            f"answers 1.5 s late, N=20: <= {MAX_SLOW_RATIO} x (3 windows + 1.5 s) = {goal:.3f} s "
            "and ahead of ccxt",
            f"{slow.wall_s:.2f} s, {slow.rejections} rejections"
            + (f"; ccxt {them.wall_s:.2f} s" if them else ""),
            slow.wall_s <= goal and slow.rejections == 0 and ahead,
        ))
    for key in ("wan50", "wan150", "slow"):
        r = ours.get((key, 5))
        if r is not None:
            # One round trip: well under two of the link's least round trips.
            rtt = LINKS[key].min_rtt
            checks.append(Target(
                f"{LINKS[key].name}, N=5: one round trip",
                f"{r.wall_s * 1000:.0f} ms, least round trip {rtt * 1000:.0f} ms",
                r.wall_s < 1.5 * rtt + 0.05,
            ))
    base = next((r for r in load if r.client == "okx-async" and r.concurrency == 50), None)
    floor = next((r for r in load if r.client == "aiohttp floor" and r.concurrency == 50), None)
    if base and floor:
        ratio = base.cpu_us / floor.cpu_us
        checks.append(Target(
            f"no limit, concurrency 50: CPU/request <= {MAX_OVERHEAD_VS_FLOOR}x aiohttp floor",
            f"{base.cpu_us:.0f} vs {floor.cpu_us:.0f} µs = {ratio:.2f}x",
            ratio <= MAX_OVERHEAD_VS_FLOOR,
        ))
    for mine in (r for r in tenants if r.client == "okx-async"):
        bare = next((r for r in tenants if r.client == FLOOR and r.users == mine.users), None)
        if bare is None:
            continue
        ratio = mine.cpu_us / bare.cpu_us
        checks.append(Target(
            f"{mine.users} users x {mine.per_user}: CPU/request <= {MAX_TENANTS_VS_FLOOR}x "
            "aiohttp floor",
            f"{mine.cpu_us:.0f} vs {bare.cpu_us:.0f} µs = {ratio:.2f}x",
            ratio <= MAX_TENANTS_VS_FLOOR,
        ))
    f = next((r for r in foreign if r.client == "okx-async"), None)
    if f is not None:
        checks.append(Target(
            f"foreign sender 1 per 1.5 s: <= {MAX_FOREIGN_REJECTIONS} rejections, "
            f"<= {MAX_FOREIGN_RATIO}x least",
            f"{f.rejections} rejections, {f.ratio:.2f}x ({f.wall_s:.1f} vs {f.least_s:.1f} s)",
            f.rejections <= MAX_FOREIGN_REJECTIONS and f.ratio <= MAX_FOREIGN_RATIO,
        ))
    return checks


def swc_table(results: list[SwcRun]) -> str:
    rows: list[list[object]] = []
    for link in dict.fromkeys(r.link for r in results):
        runs = [r for r in results if r.link == link]
        counts = [r.rejections for r in runs]
        rows.append([
            LINKS[link].name, len(runs), runs[0].n,
            ", ".join(f"{k}: {counts.count(k)}" for k in sorted(set(counts))),
            max(counts), min(r.successes for r in runs),
            f"{min(r.wall_s for r in runs):.1f}-{max(r.wall_s for r in runs):.1f}",
        ])
    return table(
        ["link", "runs", "N", "runs by rejections", "most rejections", "fewest results",
         "wall s"],
        rows,
    )
