"""Benchmarks of okx-async against ccxt and python-okx, on the bundled OKX simulator.

Run them with ``python -m benchmarks`` (full, a few minutes) or
``python -m benchmarks --quick`` (under a minute); ``--soak`` adds the long soak run.
They measure; they do not assert. See ``docs/performance.md`` for the results.
"""
