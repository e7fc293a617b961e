"""The dashboard row of one pair, computed from its recent candles: pure numpy, no I/O.

Definitions (DESIGN.md): ``last`` is the open time of the pair's last closed candle at its
finest stored interval; an N-day window holds the candles with open time in
``(last - N days, last]``; the 24 h change compares the last close with the close of the
candle opened at ``last - 24 h``, or the latest one before it when that one is missing.
All-time figures combine the pair's daily history (stored or rolled up) with the recent
candles, so a new high in the still-open day counts at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinbt.domain.market import DashboardRow

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

DAY_MS = 86_400_000
WINDOW_DAYS = 30
"""Recent history a summary needs beyond the daily figures (plus one day for the 24 h change)."""


@dataclass(frozen=True)
class DailyFigures:
    """Aggregates of a pair's daily history, as the store reads them in one query."""

    high: float | None
    low: float | None
    days: int
    last_day: int | None


@dataclass(frozen=True)
class Recent:
    """A pair's candles at its finest interval since ``last - 31 days``, oldest first."""

    time: I64
    high: F64
    low: F64
    close: F64
    volume: F64


def window_start(last: int) -> int:
    """First open time a summary must read: the 30-day window plus the 24 h reference."""
    return last - (WINDOW_DAYS + 1) * DAY_MS


def summarize(
    crypto_id: int,
    symbol: str,
    recent: Recent,
    daily: DailyFigures,
    last_candles: tuple[int, ...] = (),
) -> DashboardRow:
    """The dashboard row; ``recent`` must hold at least the last candle. ``last_candles``
    are the last open times of the pair's other series, whose still-open day no daily
    figure covers yet."""
    last = int(recent.time[-1])
    high_7d, low_7d, volume_7d = _window(recent, last, 7)
    high_30d, low_30d, volume_30d = _window(recent, last, 30)
    return DashboardRow(
        crypto_id=crypto_id,
        symbol=symbol,
        current_price=float(recent.close[-1]),
        change_24h_percent=_change_24h(recent, last),
        high_7d=high_7d,
        low_7d=low_7d,
        volume_7d=volume_7d,
        high_30d=high_30d,
        low_30d=low_30d,
        volume_30d=volume_30d,
        all_time_high=_extreme(daily.high, float(recent.high.max()), highest=True),
        all_time_low=_extreme(daily.low, float(recent.low.min()), highest=False),
        total_days=daily.days + _days_after(recent.time, last_candles, daily.last_day),
        last_updated=last,
    )


def _window(recent: Recent, last: int, days: int) -> tuple[float, float, float]:
    lo = int(np.searchsorted(recent.time, last - days * DAY_MS, side="right"))
    return (
        float(recent.high[lo:].max()),
        float(recent.low[lo:].min()),
        float(recent.volume[lo:].sum()),
    )


def _change_24h(recent: Recent, last: int) -> float | None:
    at = int(np.searchsorted(recent.time, last - DAY_MS, side="right")) - 1
    if at < 0:
        return None
    before = float(recent.close[at])
    return (float(recent.close[-1]) / before - 1.0) * 100.0


def _extreme(stored: float | None, recent: float, *, highest: bool) -> float:
    if stored is None:
        return recent
    return max(stored, recent) if highest else min(stored, recent)


def _days_after(time: I64, last_candles: tuple[int, ...], last_day: int | None) -> int:
    days = np.unique(np.r_[time, np.asarray(last_candles, dtype=np.int64)] // DAY_MS)
    if last_day is None:
        return len(days)
    return int(np.count_nonzero(days > last_day // DAY_MS))
