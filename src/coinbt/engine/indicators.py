"""Technical indicators over segmented columns (formulas: docs/strategies.md).

Every kernel takes the concatenated column of many pairs and ``offsets`` (pair ``s`` is
rows ``offsets[s]:offsets[s+1]``), never lets a window cross a pair boundary, and leaves
NaN where a value does not exist yet. Pairs are processed in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from coinbt.engine._types import F64, I64

_NAN = np.nan


@njit(cache=True, inline="always", error_model="numpy")
def _add(total: float, comp: float, value: float) -> tuple[float, float]:
    # Neumaier's compensated addition: a rolling sum keeps ~1 ulp of accuracy over
    # millions of adds and subtracts instead of drifting.
    t = total + value
    if abs(total) >= abs(value):
        comp += (total - t) + value
    else:
        comp += (value - t) + total
    return t, comp


@njit(cache=True, error_model="numpy")
def _sma_segment(x: F64, out: F64, lo: int, hi: int, w: int) -> None:
    total = 0.0
    comp = 0.0
    for i in range(lo, hi):
        total, comp = _add(total, comp, x[i])
        if i - lo >= w:
            total, comp = _add(total, comp, -x[i - w])
        if i - lo >= w - 1:
            out[i] = (total + comp) / w


@njit(cache=True, parallel=True, error_model="numpy")
def sma(x: F64, offsets: I64, w: int) -> F64:
    """Simple moving average of window ``w``."""
    out = np.full(len(x), _NAN)
    for s in prange(len(offsets) - 1):
        _sma_segment(x, out, offsets[s], offsets[s + 1], w)
    return out


@njit(cache=True, error_model="numpy")
def _ema_segment(x: F64, out: F64, lo: int, hi: int, w: int) -> None:
    start = lo
    while start < hi and np.isnan(x[start]):
        start += 1
    if hi - start < w:
        return
    total = 0.0
    comp = 0.0
    for i in range(start, start + w):
        total, comp = _add(total, comp, x[i])
    alpha = 2.0 / (w + 1.0)
    prev = (total + comp) / w
    out[start + w - 1] = prev
    for i in range(start + w, hi):
        prev = alpha * x[i] + (1.0 - alpha) * prev
        out[i] = prev


@njit(cache=True, parallel=True, error_model="numpy")
def ema(x: F64, offsets: I64, w: int) -> F64:
    """Exponential moving average (alpha = 2/(w+1)), seeded with the mean of the first
    ``w`` defined values of each pair."""
    out = np.full(len(x), _NAN)
    for s in prange(len(offsets) - 1):
        _ema_segment(x, out, offsets[s], offsets[s + 1], w)
    return out


@njit(cache=True, error_model="numpy")
def _rsi_value(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 100.0 if gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


@njit(cache=True, error_model="numpy")
def _rsi_segment(c: F64, out: F64, lo: int, hi: int, p: int) -> None:
    if hi - lo <= p:
        return
    g_tot, g_comp, l_tot, l_comp = 0.0, 0.0, 0.0, 0.0
    for i in range(lo + 1, lo + p + 1):
        d = c[i] - c[i - 1]
        g_tot, g_comp = _add(g_tot, g_comp, max(d, 0.0))
        l_tot, l_comp = _add(l_tot, l_comp, max(-d, 0.0))
    gain = (g_tot + g_comp) / p
    loss = (l_tot + l_comp) / p
    out[lo + p] = _rsi_value(gain, loss)
    for i in range(lo + p + 1, hi):
        d = c[i] - c[i - 1]
        gain = (gain * (p - 1) + max(d, 0.0)) / p
        loss = (loss * (p - 1) + max(-d, 0.0)) / p
        out[i] = _rsi_value(gain, loss)


@njit(cache=True, parallel=True, error_model="numpy")
def rsi(close: F64, offsets: I64, p: int) -> F64:
    """Wilder's relative strength index of period ``p``."""
    out = np.full(len(close), _NAN)
    for s in prange(len(offsets) - 1):
        _rsi_segment(close, out, offsets[s], offsets[s + 1], p)
    return out


@njit(cache=True, error_model="numpy")
def _std_segment(x: F64, mean: F64, out: F64, lo: int, hi: int, w: int) -> None:
    # Two passes over each window: exact enough to compare with a band, and windows are
    # short (Bollinger periods), so the O(n*w) cost is fine.
    for i in range(lo + w - 1, hi):
        m = mean[i]
        acc = 0.0
        for j in range(i - w + 1, i + 1):
            acc += (x[j] - m) * (x[j] - m)
        out[i] = np.sqrt(acc / w)


@njit(cache=True, parallel=True, error_model="numpy")
def rolling_std(x: F64, offsets: I64, w: int, mean: F64) -> F64:
    """Population standard deviation (ddof 0) over windows of ``w``, around ``mean``
    (the SMA of the same window)."""
    out = np.full(len(x), _NAN)
    for s in prange(len(offsets) - 1):
        _std_segment(x, mean, out, offsets[s], offsets[s + 1], w)
    return out


@njit(cache=True, error_model="numpy")
def _channel_segment(x: F64, out: F64, lo: int, hi: int, w: int, sign: float) -> None:
    # sign=+1 takes maxima, sign=-1 minima. Plain scan: channel windows are short.
    for i in range(lo + w, hi):
        best = sign * x[i - w]
        for j in range(i - w + 1, i):
            best = max(best, sign * x[j])
        out[i] = sign * best


@njit(cache=True, parallel=True, error_model="numpy")
def prior_max(x: F64, offsets: I64, w: int) -> F64:
    """Highest value of the ``w`` bars before each bar (Donchian upper channel)."""
    out = np.full(len(x), _NAN)
    for s in prange(len(offsets) - 1):
        _channel_segment(x, out, offsets[s], offsets[s + 1], w, 1.0)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def prior_min(x: F64, offsets: I64, w: int) -> F64:
    """Lowest value of the ``w`` bars before each bar (Donchian lower channel)."""
    out = np.full(len(x), _NAN)
    for s in prange(len(offsets) - 1):
        _channel_segment(x, out, offsets[s], offsets[s + 1], w, -1.0)
    return out
