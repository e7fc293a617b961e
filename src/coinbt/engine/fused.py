"""Fused signal kernels for the one-parameter-set path.

A batch run needs each indicator once, so instead of materialising whole-batch indicator
columns (fresh pages the kernel must fault in: tens of MB for hundreds of pairs) these
kernels work pair by pair in small buffers, or bar by bar, and emit the signal column
directly. The arithmetic is the same operations in the same order as the memoised path
used by sweeps (a unit test holds the two paths bit-identical).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from coinbt.engine._types import F64, I8, I64
from coinbt.engine.indicators import _add, _sma_segment
from coinbt.engine.signals import _cross_segment, _side


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


@njit(cache=True, parallel=True, error_model="numpy")
def sma_cross(c: F64, offsets: I64, fast: int, slow: int) -> I8:
    """``+1``/``-1`` where SMA(fast) crosses above/below SMA(slow), pair by pair."""
    out = np.zeros(len(c), dtype=np.int8)
    for s in prange(len(offsets) - 1):
        lo, hi = offsets[s], offsets[s + 1]
        a = np.full(hi - lo, np.nan)
        b = np.full(hi - lo, np.nan)
        _sma_segment(c[lo:hi], a, 0, hi - lo, fast)
        _sma_segment(c[lo:hi], b, 0, hi - lo, slow)
        _cross_segment(a, b, out[lo:hi], 0, hi - lo, 1, -1)
    return out
