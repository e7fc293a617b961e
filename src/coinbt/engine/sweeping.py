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
from coinbt.engine.plan import EVENT_COLS, MAX_EVENTS, MODE_CROSS, MODE_NONE
from coinbt.engine.signals import cross_rows, run_rows
from coinbt.engine.simulate import TRADE_COLS, simulate_segment
from coinbt.engine.stats import N_METRICS, metrics_row
from coinbt.engine.sweep_columns import pair_columns


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


# A pair's columns are too big for the L2 cache (20 windows x 8,760 bars = 1.4 MB), so
# signals are built a tile of bars at a time for a block of combinations: each tile of
# every column is read from L3 once per block instead of once per combination.
_TILE_BARS = 1024
_COMBO_BLOCK = 64

FillOptions = tuple[float, float, float, bool, bool, float, float, float]


@njit(cache=True, error_model="numpy")
def _event_rows(cols: F64, e: I64, a: int, b: int, sig: I8, prev: int) -> int:
    # One event (``plan.encode``: mode, column a, column b, up, down) on rows a:b.
    x, y = cols[e[1], a:b], cols[e[2], a:b]
    if e[0] == MODE_CROSS:
        return cross_rows(x, y, sig, e[3], e[4], prev)
    return run_rows(x, y, sig, e[3], prev)


@njit(cache=True, error_model="numpy")
def _block_signals(cols: F64, rules: I64, sig: I8) -> None:
    # sig[k] = the signal of combination rules[k], as plan.event_signals on the pair's
    # rows: a later event overwrites an earlier one where it fires.
    n = sig.shape[1]
    sig[:] = 0
    prev = np.zeros((len(rules), MAX_EVENTS), dtype=np.int64)
    for k in range(len(rules)):
        for j in range(MAX_EVENTS):
            if rules[k, EVENT_COLS * j] == MODE_CROSS:
                prev[k, j] = 2  # no side yet (a run has none yet: 0)
    for a in range(0, n, _TILE_BARS):
        b = min(n, a + _TILE_BARS)
        for k in range(len(rules)):
            for j in range(MAX_EVENTS):
                e = rules[k, EVENT_COLS * j : EVENT_COLS * (j + 1)]
                if e[0] != MODE_NONE:
                    prev[k, j] = _event_rows(cols, e, a, b, sig[k, a:b], prev[k, j])


@njit(cache=True, error_model="numpy")
def _sweep_pair(
    o: F64,
    h: F64,
    lo_: F64,
    c: F64,
    cols: F64,
    rules: I64,
    amounts: F64,
    opts: FillOptions,
    bar_days: float,
    out: F64,
) -> None:
    # Every combination on one pair while its candles are in cache.
    cash0, fee, slip, longshort, fill_close, sl, tp, ts = opts
    n = len(c)
    sig = np.empty((min(len(rules), _COMBO_BLOCK), n), dtype=np.int8)
    equity = np.empty(n)
    # A trade needs a signal event, and there is at most one per bar.
    trades = np.empty((n + 1, TRADE_COLS))
    for first in range(0, len(rules), _COMBO_BLOCK):
        last = min(len(rules), first + _COMBO_BLOCK)
        _block_signals(cols, rules[first:last], sig[: last - first])
        for k in range(first, last):
            nt, exposed = simulate_segment(
                o, h, lo_, c, sig[k - first], 0, n,
                cash0, fee, slip, longshort, fill_close, sl, tp, ts, amounts[k], equity, trades,
            )  # fmt: skip
            metrics_row(equity, c, trades, nt, exposed, cash0, bar_days, out[k])


@njit(cache=True, parallel=True, error_model="numpy")
def sweep_rules(
    o: F64,
    h: F64,
    lo_: F64,
    c: F64,
    offsets: I64,
    kinds: I64,
    params: I64,
    values: F64,
    rules: I64,
    amounts: F64,
    opts: FillOptions,
    bar_days: float,
) -> F64:
    """Metrics of every (pair, combination): a (pairs, combinations, N_METRICS) array.

    Pair-major: each pair computes the column table (``sweep_columns.pair_columns``) once,
    then runs every combination (one row of ``rules`` from ``plan.encode``, and its order
    amount) from those columns with the same fill loop and metrics as a full run.
    """
    m = len(offsets) - 1
    out = np.zeros((m, len(rules), N_METRICS))
    for s in prange(m):
        lo, hi = offsets[s], offsets[s + 1]
        cols = pair_columns(h[lo:hi], lo_[lo:hi], c[lo:hi], kinds, params, values)
        _sweep_pair(o[lo:hi], h[lo:hi], lo_[lo:hi], c[lo:hi], cols, rules, amounts, opts,
                    bar_days, out[s])  # fmt: skip
    return out
