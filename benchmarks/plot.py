"""The requests-over-time plot: okx-async vs ccxt against the 5-per-2-s envelope.

matplotlib is optional: without it the plot is skipped with a message, never an error.
"""

from __future__ import annotations

import math
from pathlib import Path

from ._common import LIMIT, WINDOW
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
