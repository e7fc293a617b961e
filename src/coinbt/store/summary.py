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
from coinbt.store import segments

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


@dataclass(frozen=True)
class PairFacts:
    """What a pair's row needs besides its recent candles: its symbol, its daily figures
    and the last open times of its other series, whose still-open day no daily figure
    covers yet."""

    symbol: str
    daily: DailyFigures
    last_candles: tuple[int, ...] = ()


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
    ids = np.full(len(recent.time), crypto_id, dtype=np.int64)
    columns = (recent.time, recent.high, recent.low, recent.close, recent.volume)
    (row,) = summarize_pairs(ids, *columns, {crypto_id: PairFacts(symbol, daily, last_candles)})
    return row


def summarize_pairs(
    ids: npt.NDArray[np.integer],
    time: I64,
    high: F64,
    low: F64,
    close: F64,
    volume: F64,
    facts: dict[int, PairFacts],
) -> list[DashboardRow]:
    """The rows of many pairs at once from their candles, sorted by pair id then time
    (each pair's candles before ``window_start`` of its last are ignored); one row per pair
    present, in id order. One pass of numpy for every pair: an update refreshes hundreds."""
    if len(time) == 0:
        return []
    first = segments.first_rows(ids)
    last = time[segments.starts_and_ends(first)[1]][segments.run_of(first)]
    keep = time >= last - (WINDOW_DAYS + 1) * DAY_MS
    ids, time, last = ids[keep], time[keep], last[keep]
    high, low, close, volume = high[keep], low[keep], close[keep], volume[keep]
    first = segments.first_rows(ids)
    seg, (starts, ends) = segments.run_of(first), segments.starts_and_ends(first)
    windows = {days: _windows(time, high, low, volume, last, starts, days) for days in (7, 30)}
    change = _changes(time, close, last, seg, starts, ends)
    days = _days(ids, time, seg, starts, facts)
    owners = ids[starts].tolist()
    highs = np.maximum.reduceat(high, starts).tolist()
    lows = np.minimum.reduceat(low, starts).tolist()
    return [
        _row(cid, facts[cid], float(close[ends[k]]), int(time[ends[k]]), change[k], days[k],
             (highs[k], lows[k]), {d: tuple(w[k] for w in windows[d]) for d in windows})
        for k, cid in enumerate(owners)
    ]  # fmt: skip


def _row(
    cid: int,
    fact: PairFacts,
    price: float,
    last: int,
    change: float | None,
    days: int,
    extremes: tuple[float, float],
    windows: dict[int, tuple[float, ...]],
) -> DashboardRow:
    (high_7d, low_7d, volume_7d), (high_30d, low_30d, volume_30d) = windows[7], windows[30]
    return DashboardRow(
        crypto_id=cid,
        symbol=fact.symbol,
        current_price=price,
        change_24h_percent=change,
        high_7d=high_7d,
        low_7d=low_7d,
        volume_7d=volume_7d,
        high_30d=high_30d,
        low_30d=low_30d,
        volume_30d=volume_30d,
        all_time_high=_extreme(fact.daily.high, extremes[0], highest=True),
        all_time_low=_extreme(fact.daily.low, extremes[1], highest=False),
        total_days=fact.daily.days + days,
        last_updated=last,
    )


def _windows(
    time: I64, high: F64, low: F64, volume: F64, last: I64, starts: I64, days: int
) -> tuple[list[float], list[float], list[float]]:
    # Every pair's last candle is in each window, so no window is empty.
    inside = time > last - days * DAY_MS
    return (
        np.maximum.reduceat(np.where(inside, high, -np.inf), starts).tolist(),
        np.minimum.reduceat(np.where(inside, low, np.inf), starts).tolist(),
        np.add.reduceat(np.where(inside, volume, 0.0), starts).tolist(),
    )


def _changes(
    time: I64, close: F64, last: I64, seg: I64, starts: I64, ends: I64
) -> list[float | None]:
    # One sorted key over all pairs (pair, time since its window start) finds each pair's
    # reference candle with a single searchsorted.
    span = 64 * DAY_MS
    base = last - (WINDOW_DAYS + 1) * DAY_MS
    key = seg * span + (time - base)
    target = np.arange(len(starts)) * span + WINDOW_DAYS * DAY_MS
    at = np.searchsorted(key, target, side="right") - 1
    found = at >= starts
    ratio = close[ends] / close[np.where(found, at, ends)]
    return [(float(r) - 1.0) * 100.0 if f else None for r, f in zip(ratio, found, strict=True)]


def _days(
    ids: npt.NDArray[np.integer],
    time: I64,
    seg: I64,
    starts: I64,
    facts: dict[int, PairFacts],
) -> list[int]:
    """Per pair, the days of its candles and other series' last candles after its last
    daily figure."""
    owners = ids[starts].tolist()
    extra = [(k, t) for k, cid in enumerate(owners) for t in facts[cid].last_candles]
    extra_seg = np.array([k for k, _ in extra], dtype=np.int64)
    extra_time = np.array([t for _, t in extra], dtype=np.int64)
    all_seg = np.concatenate((seg, extra_seg))
    day = np.concatenate((time, extra_time)) // DAY_MS
    pairs = np.unique(all_seg * (1 << 32) + day)
    pair_seg, pair_day = pairs >> 32, pairs & ((1 << 32) - 1)
    floor = np.array([_day_floor(facts[cid].daily.last_day) for cid in owners], dtype=np.int64)
    counted = pair_day > floor[pair_seg]
    counts: list[int] = np.bincount(pair_seg[counted], minlength=len(owners)).tolist()
    return counts


def _day_floor(last_day: int | None) -> int:
    return -1 if last_day is None else last_day // DAY_MS


def _extreme(stored: float | None, recent: float, *, highest: bool) -> float:
    if stored is None:
        return recent
    return max(stored, recent) if highest else min(stored, recent)
