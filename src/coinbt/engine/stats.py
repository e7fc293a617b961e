"""Metrics from an equity curve and its trades (one formula each: docs/metrics.md).

The output row follows ``coinbt.domain.results.METRIC_NAMES``; the column constants below
must stay in that order (a unit test checks it).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from coinbt.engine._types import F64, I64
from coinbt.engine.simulate import T_ENTRY_BAR, T_ENTRY_FEE, T_EXIT_BAR, T_EXIT_FEE, T_PNL, T_RET

(
    TOTAL_RETURN,
    BUY_HOLD,
    CAGR,
    VOLATILITY,
    SHARPE,
    SORTINO,
    CALMAR,
    MAX_DD,
    MAX_DD_BARS,
    WIN_RATE,
    PROFIT_FACTOR,
    EXPECTANCY,
    NUM_TRADES,
    EXPOSURE,
    AVG_TRADE,
    BEST_TRADE,
    WORST_TRADE,
    AVG_TRADE_BARS,
    FEES_PAID,
    FINAL_EQUITY,
) = range(20)
N_METRICS = 20

RATIO_CAP = 1000.0
CAGR_CAP_PCT = 1e9


@njit(cache=True, inline="always", error_model="numpy")
def ratio(num: float, den: float) -> float:
    """``num / den`` clipped to ±RATIO_CAP; 0 for 0/0 and ±cap for x/0."""
    if den == 0.0:
        if num == 0.0:
            return 0.0
        return RATIO_CAP if num > 0.0 else -RATIO_CAP
    return min(max(num / den, -RATIO_CAP), RATIO_CAP)


@njit(cache=True, inline="always", error_model="numpy")
def _bar_return(eq: F64, t: int) -> float:
    # Flat bars (no position) are common and need no division: x / x - 1 is exactly 0.
    prev = eq[t - 1]
    if eq[t] == prev or prev <= 0.0:
        return 0.0
    return float(eq[t] / prev - 1.0)


@njit(cache=True, error_model="numpy")
def _curve_stats(eq: F64, out: F64, bars_per_year: float) -> None:
    """Return and drawdown metrics of one equity curve (two passes: mean, then spread)."""
    n = len(eq) - 1
    mean = 0.0
    down = 0.0
    # Drawdown: the deepest point of each stretch below a peak, divided once per stretch
    # (dividing by a positive peak is monotonic, so min(E)/peak is min(E/peak) exactly).
    peak = eq[0]
    trough = eq[0]
    worst = 0.0
    run = 0
    longest = 0
    # Returns are kept for the second pass: a division costs more than a load from cache.
    rets = np.empty(len(eq))
    for t in range(1, len(eq)):
        r = _bar_return(eq, t)
        rets[t] = r
        mean += r
        down += min(r, 0.0) ** 2
        if eq[t] >= peak:
            if trough < peak and peak > 0.0:
                worst = min(worst, trough / peak - 1.0)
            peak = trough = eq[t]
            run = 0
        else:
            trough = min(trough, eq[t])
            run += 1
            longest = max(longest, run)
    if trough < peak and peak > 0.0:
        worst = min(worst, trough / peak - 1.0)
    out[MAX_DD] = 100.0 * worst
    out[MAX_DD_BARS] = longest
    if n < 1:
        return
    mean /= n
    scale = np.sqrt(bars_per_year)
    out[SORTINO] = ratio(mean * scale, np.sqrt(down / n))
    if n < 2:
        return
    acc = 0.0
    for t in range(1, len(eq)):
        acc += (rets[t] - mean) ** 2
    std = np.sqrt(acc / (n - 1))
    out[VOLATILITY] = 100.0 * std * scale
    out[SHARPE] = ratio(mean * scale, std)


@njit(cache=True, error_model="numpy")
def _trade_stats(trades: F64, k: int, out: F64) -> None:
    if k == 0:
        return
    wins = 0
    gross_win = 0.0
    gross_loss = 0.0
    sum_ret = 0.0
    sum_log = 0.0
    ruined = False
    best = -np.inf
    worst = np.inf
    bars = 0.0
    for j in range(k):
        pnl = trades[j, T_PNL]
        r = trades[j, T_RET] / 100.0
        if pnl > 0.0:
            wins += 1
            gross_win += pnl
        elif pnl < 0.0:
            gross_loss -= pnl
        sum_ret += r
        if 1.0 + r <= 0.0:
            ruined = True
        else:
            sum_log += np.log1p(r)
        best = max(best, r)
        worst = min(worst, r)
        bars += trades[j, T_EXIT_BAR] - trades[j, T_ENTRY_BAR]
    out[NUM_TRADES] = k
    out[WIN_RATE] = 100.0 * wins / k
    out[PROFIT_FACTOR] = ratio(gross_win, gross_loss)
    out[EXPECTANCY] = 100.0 * sum_ret / k
    out[AVG_TRADE] = -100.0 if ruined else 100.0 * np.expm1(sum_log / k)
    out[BEST_TRADE] = 100.0 * best
    out[WORST_TRADE] = 100.0 * worst
    out[AVG_TRADE_BARS] = bars / k


@njit(cache=True, error_model="numpy")
def _cagr_pct(growth: float, years: float) -> float:
    if growth <= 0.0:
        return -100.0
    x = np.log(growth) / years
    if x >= np.log1p(CAGR_CAP_PCT / 100.0):
        return CAGR_CAP_PCT
    return float(100.0 * np.expm1(x))


@njit(cache=True, error_model="numpy")
def metrics_row(
    eq: F64, c: F64, trades: F64, k: int, exposed: int, cash0: float, bar_days: float, out: F64
) -> None:
    """Fill ``out`` (length N_METRICS) with the metrics of one pair's run."""
    out[:] = 0.0
    n = len(eq)
    if n == 0:
        return
    final = eq[n - 1]
    growth = final / cash0
    out[TOTAL_RETURN] = 100.0 * (growth - 1.0)
    out[BUY_HOLD] = 100.0 * (c[n - 1] / c[0] - 1.0)
    out[CAGR] = _cagr_pct(growth, n * bar_days / 365.0)
    _curve_stats(eq, out, 365.0 / bar_days)
    out[CALMAR] = ratio(out[CAGR] / 100.0, abs(out[MAX_DD]) / 100.0)
    _trade_stats(trades, k, out)
    out[EXPOSURE] = 100.0 * exposed / n
    fees = 0.0
    for j in range(k):
        fees += trades[j, T_ENTRY_FEE] + trades[j, T_EXIT_FEE]
    out[FEES_PAID] = fees
    out[FINAL_EQUITY] = final


@njit(cache=True, parallel=True, error_model="numpy")
def metrics_batch(
    equity: F64,
    c: F64,
    offsets: I64,
    trades: F64,
    trade_offsets: I64,
    counts: I64,
    exposed: I64,
    cash0: float,
    bar_days: float,
) -> F64:
    """One metrics row per pair of a simulated batch."""
    m = len(offsets) - 1
    out = np.zeros((m, N_METRICS))
    for s in prange(m):
        lo, hi = offsets[s], offsets[s + 1]
        block = trades[trade_offsets[s] : trade_offsets[s + 1]]
        metrics_row(equity[lo:hi], c[lo:hi], block, counts[s], exposed[s], cash0, bar_days, out[s])
    return out
