"""Indicator columns of one pair, for the fused sweep kernel.

Each column is computed by the same segment functions as the memoised whole-batch
indicators (``indicators.py``, ``Features``), on the pair's own rows, so a value here is
bit-identical to the memoised one. Columns are described by a kind code (``plan.K_*``),
up to three windows and one float (a constant or a band width).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from coinbt.engine._types import F64, I64
from coinbt.engine.indicators import (
    _channel_segment,
    _ema_segment,
    _rsi_segment,
    _sma_segment,
    _std_segment,
)
from coinbt.engine.plan import (
    K_CLOSE,
    K_CONST,
    K_EMA,
    K_HIGHEST,
    K_LOWER_BAND,
    K_LOWEST,
    K_MACD,
    K_MACD_SIGNAL,
    K_RSI,
    K_SMA,
)

TMP_ROWS = 3  # scratch rows a column may need besides its own


@njit(cache=True, error_model="numpy")
def _lower_band(c: F64, w: int, width: float, out: F64, tmp: F64) -> None:
    # Features: middle - width * std(w), with std taken around the same SMA.
    n = len(c)
    mid = tmp[0]
    dev = tmp[1]
    mid[:] = np.nan
    dev[:] = np.nan
    _sma_segment(c, mid, 0, n, w)
    _std_segment(c, mid, dev, 0, n, w)
    for i in range(n):
        out[i] = mid[i] - width * dev[i]


@njit(cache=True, error_model="numpy")
def _macd(c: F64, fast: int, slow: int, out: F64, tmp: F64) -> None:
    # Features: ema(fast) - ema(slow), NaN until the slow EMA exists.
    n = len(c)
    ef = tmp[0]
    es = tmp[1]
    ef[:] = np.nan
    es[:] = np.nan
    _ema_segment(c, ef, 0, n, fast)
    _ema_segment(c, es, 0, n, slow)
    for i in range(n):
        out[i] = ef[i] - es[i]


@njit(cache=True, error_model="numpy")
def column(h: F64, lo_: F64, c: F64, kind: int, p: I64, value: float, out: F64, tmp: F64) -> None:
    """Write the column ``(kind, p, value)`` of one pair's candles into ``out`` (NaN where
    it does not exist yet); ``tmp`` is scratch of ``TMP_ROWS`` rows as long as ``c``."""
    n = len(c)
    out[:] = np.nan
    if kind == K_CLOSE:
        out[:] = c
    elif kind == K_SMA:
        _sma_segment(c, out, 0, n, p[0])
    elif kind == K_EMA:
        _ema_segment(c, out, 0, n, p[0])
    elif kind == K_RSI:
        _rsi_segment(c, out, 0, n, p[0])
    elif kind == K_CONST:
        out[:] = value
    elif kind == K_LOWER_BAND:
        _lower_band(c, p[0], value, out, tmp)
    elif kind == K_MACD:
        _macd(c, p[0], p[1], out, tmp)
    elif kind == K_MACD_SIGNAL:
        line = tmp[2]
        _macd(c, p[0], p[1], line, tmp)
        _ema_segment(line, out, 0, n, p[2])
    elif kind == K_HIGHEST:
        _channel_segment(h, out, 0, n, p[0], 1.0)
    elif kind == K_LOWEST:
        _channel_segment(lo_, out, 0, n, p[0], -1.0)


@njit(cache=True, error_model="numpy")
def pair_columns(h: F64, lo_: F64, c: F64, kinds: I64, params: I64, values: F64) -> F64:
    """Every column of the table (one row of ``kinds``/``params``/``values`` each) for
    one pair's candles: a (columns, bars) array."""
    n = len(c)
    cols = np.empty((len(kinds), n))
    tmp = np.empty((TMP_ROWS, n))
    for j in range(len(kinds)):
        column(h, lo_, c, kinds[j], params[j], values[j], cols[j], tmp)
    return cols
