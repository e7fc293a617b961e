"""Fused signal kernels for the one-parameter-set path.

A batch run needs each indicator once, so instead of materialising whole-batch indicator
columns (fresh pages the kernel must fault in: tens of MB for hundreds of pairs) these
kernels advance the indicators bar by bar and emit the signal column directly. The
arithmetic is the same operations in the same order as the memoised path used by sweeps
(a unit test holds the two paths bit-identical).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from coinbt.engine._types import F64, I8, I64
from coinbt.engine.indicators import _add
from coinbt.engine.signals import REL_TOL, _side


@njit(cache=True, inline="always", error_model="numpy")
def _ema_step(
    x: F64, i: int, lo: int, w: int, total: float, comp: float, prev: float
) -> tuple[float, float, float]:
    # The same operations, in the same order, as indicators._ema_segment on a column
    # without NaN (close prices), so this path and the memoised one agree to the bit.
    k = i - lo
    if k < w:
        total, comp = _add(total, comp, x[i])
        if k == w - 1:
            return total, comp, (total + comp) / w
        return total, comp, np.nan
    alpha = 2.0 / (w + 1.0)
    return total, comp, alpha * x[i] + (1.0 - alpha) * prev


@njit(cache=True, error_model="numpy")
def _emit(out: I8, i: int, fv: float, sv: float, prev: int) -> int:
    now = _side(fv, sv)
    if prev != 2 and now != prev and now != 0:
        out[i] = now
    return now


@njit(cache=True, error_model="numpy")
def _ema_cross_segment(c: F64, out: I8, lo: int, hi: int, fast: int, slow: int) -> None:
    # Both averages advance in one loop: two independent dependency chains the CPU
    # overlaps, and no indicator column is written to memory.
    ft, fc, fv = 0.0, 0.0, np.nan
    st, sc, sv = 0.0, 0.0, np.nan
    prev = 2
    for i in range(lo, hi):
        ft, fc, fv = _ema_step(c, i, lo, fast, ft, fc, fv)
        st, sc, sv = _ema_step(c, i, lo, slow, st, sc, sv)
        prev = _emit(out, i, fv, sv, prev)


@njit(cache=True, parallel=True, error_model="numpy")
def ema_cross(c: F64, offsets: I64, fast: int, slow: int) -> I8:
    """``+1``/``-1`` where EMA(fast) crosses above/below EMA(slow), pair by pair."""
    out = np.zeros(len(c), dtype=np.int8)
    for s in prange(len(offsets) - 1):
        _ema_cross_segment(c, out, offsets[s], offsets[s + 1], fast, slow)
    return out


@njit(cache=True, inline="always", error_model="numpy")
def _defined_side(a: float, b: float) -> int:
    # signals._side for values known to be defined (no NaN checks in the hot loop).
    tol = REL_TOL * max(abs(a), abs(b))
    return 1 if a - b > tol else (-1 if b - a > tol else 0)


@njit(cache=True, error_model="numpy")
def _sma_cross_segment(c: F64, out: I8, lo: int, hi: int, fast: int, slow: int) -> None:
    # Both rolling sums advance in one loop (two independent dependency chains the CPU
    # overlaps), with the same compensated adds, in the same order, as
    # indicators._sma_segment; sides are compared once the slow average exists.
    ft, fc, st, sc = 0.0, 0.0, 0.0, 0.0
    prev = 2
    for i in range(lo, hi):
        k = i - lo
        ft, fc = _add(ft, fc, c[i])
        if k >= fast:
            ft, fc = _add(ft, fc, -c[i - fast])
        st, sc = _add(st, sc, c[i])
        if k >= slow:
            st, sc = _add(st, sc, -c[i - slow])
        if k >= slow - 1:
            now = _defined_side((ft + fc) / fast, (st + sc) / slow)
            if prev != 2 and now != prev and now != 0:
                out[i] = now
            prev = now


@njit(cache=True, parallel=True, error_model="numpy")
def sma_cross(c: F64, offsets: I64, fast: int, slow: int) -> I8:
    """``+1``/``-1`` where SMA(fast) crosses above/below SMA(slow), pair by pair
    (``fast < slow``)."""
    out = np.zeros(len(c), dtype=np.int8)
    for s in prange(len(offsets) - 1):
        _sma_cross_segment(c, out, offsets[s], offsets[s + 1], fast, slow)
    return out
