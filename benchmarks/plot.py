"""The requests-over-time plot: okx-async vs ccxt against the 5-per-2-s envelope.

matplotlib is optional: without it the plot is skipped with a message, never an error.
"""

from __future__ import annotations

import math
from pathlib import Path

from ._common import LIMIT, LINKS, LOOPBACK, WINDOW
from .fanout import FanoutResult


def envelope(t: float) -> int:
    """The most requests the rule allows by time ``t`` after the first: 5*(floor(t/2)+1)."""
    return LIMIT * (math.floor(t / WINDOW) + 1)


def plot_requests_over_time(runs: list[FanoutResult], path: Path) -> str:
    """Draw cumulative arrivals of each run and the envelope; return what happened."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display on a benchmark box
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return "matplotlib is not installed (pip install 'okx-async[bench]'); plot skipped"
    n = runs[0].n
    end = max(max(r.arrivals, default=0.0) for r in runs) + 0.5
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    # The envelope as a staircase: it rises by 5 at every window boundary.
    steps = [k * WINDOW for k in range(math.floor(end / WINDOW) + 1)] + [end]
    ax.step(steps, [envelope(t) for t in steps], where="post", color="0.6", linestyle="--",
            linewidth=1.5, label="most the rule allows: 5·(⌊t/2⌋+1)")
    for run, color in zip(runs, ("tab:blue", "tab:orange", "tab:green"), strict=False):
        times = sorted(run.arrivals)
        counts = list(range(1, len(times) + 1))
        eff = f", efficiency {run.efficiency:.2f}" if run.efficiency is not None else ""
        ax.step([0.0, *times, end], [0, *counts, len(times)], where="post", color=color,
                linewidth=2, label=f"{run.client}: {run.wall_s:.1f} s{eff}")
    ax.set_xlim(0, end)
    ax.set_ylim(0, n + LIMIT)
    ax.set_xlabel("seconds since the fan-out started")
    ax.set_ylabel("requests received by the server")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(
        f"Fan-out over {n} currencies at 5 requests per 2 s: least possible "
        f"{runs[0].least_s:g} s\n(arrival times from the simulator's log)"
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return f"plot written to {path}"


def plot_link_panels(
    fanout: list[FanoutResult], links: list[FanoutResult], loopback_n: int, path: Path
) -> str:
    """One panel per link profile: okx-async and ccxt, cumulative arrivals at the server.

    The loopback panel comes from the fan-out section (N = ``loopback_n``); each link
    panel shows that profile's largest N.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display on a benchmark box
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return "matplotlib is not installed (pip install 'okx-async[bench]'); plot skipped"
    panels: list[tuple[str, list[FanoutResult]]] = []
    loop_runs = [r for r in fanout if r.n == loopback_n and r.mode in (
        "batch method", "gather, enableRateLimit")]
    if loop_runs:
        panels.append((LINKS[LOOPBACK.key].name, loop_runs))
    for key in dict.fromkeys(r.link for r in links):
        biggest = max(r.n for r in links if r.link == key)
        panels.append((LINKS[key].name, [r for r in links if r.link == key and r.n == biggest]))
    if not panels:
        return "no fan-out was run; plot skipped"
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), dpi=110,
                             squeeze=False)
    for ax, (title, runs) in zip(axes.flat, panels, strict=False):
        n = runs[0].n
        end = max(max(r.arrivals, default=0.0) for r in runs) + 0.5
        steps = [k * WINDOW for k in range(math.floor(end / WINDOW) + 1)] + [end]
        ax.step(steps, [envelope(t) for t in steps], where="post", color="0.6",
                linestyle="--", linewidth=1.2, label="most the rule allows")
        for run, color in zip(runs, ("tab:blue", "tab:orange"), strict=False):
            times = sorted(run.arrivals)
            eff = f", eff. {run.efficiency:.2f}" if run.efficiency is not None else ""
            ax.step([0.0, *times, end], [0, *range(1, len(times) + 1), len(times)],
                    where="post", color=color, linewidth=1.8,
                    label=f"{run.client}: {run.wall_s:.1f} s{eff}")
        ax.set_xlim(0, end)
        ax.set_ylim(0, n + LIMIT)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{title}, N = {n} (least {runs[0].least_s:.2f} s)", fontsize=10)
        ax.set_xlabel("seconds since the fan-out started", fontsize=8)
        ax.set_ylabel("requests counted by the server", fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("Fan-outs at 5 requests per 2 s, per link profile (arrival times from the "
                 "simulator's log)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return f"plot written to {path}"
