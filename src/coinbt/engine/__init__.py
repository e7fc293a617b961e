"""The backtest engine: pure computation over numpy arrays (numba kernels).

Nothing here does I/O or reads settings, so the engine can be benchmarked and
property-tested alone. Entry points live in :mod:`coinbt.engine.run`.
"""
