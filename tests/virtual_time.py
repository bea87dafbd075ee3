"""The virtual-time event loop, for the suite's tests (it ships in the simulator package)."""

from okx_async.simulator._virtual import Deadlock, VirtualTimeLoop, run

__all__ = ["Deadlock", "VirtualTimeLoop", "run"]
