"""Kernels for parameter sweeps: metrics only, no curves kept.

A sweep of 100 combinations over hundreds of pairs would need gigabytes to keep every
equity curve, and faulting in fresh pages for each one costs more than the simulation.
Here each pair simulates into small per-pair scratch buffers that stay in cache, and only
the metrics row leaves the kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from coinbt.engine._types import F64, I8, I64
from coinbt.engine.simulate import TRADE_COLS, simulate_segment
from coinbt.engine.stats import N_METRICS, metrics_row


@njit(cache=True, parallel=True, error_model="numpy")
def simulate_metrics(
    o: F64,
    h: F64,
    lo_: F64,
    c: F64,
    sig: I8,
    offsets: I64,
    cash0: float,
    fee: float,
    slip: float,
    longshort: bool,
    fill_close: bool,
    sl: float,
    tp: float,
    ts: float,
    amount: float,
    bar_days: float,
) -> F64:
    """One metrics row per pair, from the same fill loop and formulas as a full run."""
    m = len(offsets) - 1
    out = np.zeros((m, N_METRICS))
    for s in prange(m):
        lo, hi = offsets[s], offsets[s + 1]
        capacity = 1
        for i in range(lo, hi):
            if sig[i] != 0:
                capacity += 1
        # Views shifted to the pair's own rows, so the scratch is only as long as the pair.
        equity = np.empty(hi - lo)
        trades = np.empty((capacity, TRADE_COLS))
        k, exposed = simulate_segment(
            o[lo:hi], h[lo:hi], lo_[lo:hi], c[lo:hi], sig[lo:hi], 0, hi - lo,
            cash0, fee, slip, longshort, fill_close, sl, tp, ts, amount, equity, trades,
        )  # fmt: skip
        metrics_row(equity, c[lo:hi], trades, k, exposed, cash0, bar_days, out[s])
    return out
