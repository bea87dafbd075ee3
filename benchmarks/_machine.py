"""What the benchmarks ran on: CPU, cores, Python and the versions of the clients compared."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

#: Distributions whose versions decide the numbers.
PACKAGES = ("okx-async", "aiohttp", "ccxt", "python-okx", "httpx", "psutil", "matplotlib")


def cpu_model() -> str:
    """The CPU's marketing name; ``platform.processor()`` is often empty on Linux."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def package_version(name: str) -> str:
    """The installed version of ``name``, or ``"-"`` when it is missing."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def _load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages, where the OS has them."""
    if not hasattr(os, "getloadavg"):
        return None
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict[str, object]:
    """A JSON-ready description of this machine and the software under test."""
    try:
        import psutil

        physical: int | None = psutil.cpu_count(logical=False)
    except ImportError:  # psutil is in the bench extra, but the header should never fail
        physical = None
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": physical,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        # Other work on the machine skews CPU numbers; the load says how busy it was.
        "load_average": _load_average(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "packages": {name: package_version(name) for name in PACKAGES},
    }


def describe(info: dict[str, object]) -> str:
    """The machine block printed above the results table."""
    packages = info["packages"]
    assert isinstance(packages, dict)
    versions = ", ".join(f"{name} {version}" for name, version in packages.items())
    return (
        f"CPU: {info['cpu']} ({info['logical_cores']} logical cores, "
        f"{info['usable_cores']} usable)\n"
        f"OS: {info['platform']}, load average at start {info['load_average']}\n"
        f"Python: {info['python']}\n"
        f"Packages: {versions}"
    )
