"""Daily and weekly candles rolled up from finer ones: pure numpy, no I/O.

A bucket's open is the first candle's open, its close the last candle's close, its high and
low the extremes and its volume the sum; ``bars`` counts the candles it holds (fewer than
expected when the exchange had an outage). Only *closed* buckets are emitted: a bucket is
closed once the source's last candle ends at or after the bucket's end, so the still-open
day never becomes a final daily candle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinbt.domain.interval import Interval
from coinbt.store import segments

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

ROLLUP_INTERVALS: tuple[Interval, ...] = (Interval.D1, Interval.W1)
"""The intervals kept as rollups of a pair's finest sub-daily candles."""

# Binance weekly candles open on Monday 00:00 UTC; 1970-01-01 was a Thursday.
_WEEK_ANCHOR_MS = 4 * 86_400_000


@dataclass(frozen=True)
class Rollup:
    """Closed buckets of one pair at a rollup interval, as columns."""

    interval: Interval
    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    bars: I64

    def __len__(self) -> int:
        return len(self.time)


def bucket_start(time: int, interval: Interval) -> int:
    """Open time of the ``interval`` bucket holding ``time`` (weeks start on Monday)."""
    anchor = _WEEK_ANCHOR_MS if interval is Interval.W1 else 0
    return (time - anchor) // interval.ms * interval.ms + anchor


def bucket_starts(time: I64, interval: Interval) -> I64:
    """:func:`bucket_start` of every open time."""
    anchor = _WEEK_ANCHOR_MS if interval is Interval.W1 else 0
    return np.asarray((time - anchor) // interval.ms * interval.ms + anchor, dtype=np.int64)


def aligned(time: I64, interval: Interval) -> bool:
    """True when every open time is the start of its ``interval`` bucket."""
    return bool(np.all(bucket_starts(time, interval) == time))


def is_rollup_source(interval: Interval) -> bool:
    """True for intervals finer than a day, which roll up into days and weeks."""
    return interval.ms < Interval.D1.ms


def aggregate(
    time: I64,
    open: F64,
    high: F64,
    low: F64,
    close: F64,
    volume: F64,
    *,
    source: Interval,
    interval: Interval,
) -> Rollup:
    """The closed ``interval`` buckets of candles at ``source`` (sorted by open time)."""
    pairs = np.zeros(len(time), dtype=np.int64)
    found = aggregate_pairs(
        pairs, time, open, high, low, close, volume, source=source, interval=interval
    )
    rolled = found.get(0)
    return rolled if rolled is not None else empty(interval)


def aggregate_pairs(
    pairs: npt.NDArray[np.integer],
    time: I64,
    open: F64,
    high: F64,
    low: F64,
    close: F64,
    volume: F64,
    *,
    source: Interval,
    interval: Interval,
) -> dict[int, Rollup]:
    """:func:`aggregate` of many pairs at once, rows sorted by pair then open time; each
    pair's closed buckets by pair id (a pair with none is left out). One pass of numpy for
    every pair: an update touches hundreds of pairs a few rows each."""
    if len(time) == 0:
        return {}
    buckets = bucket_starts(time, interval)
    new_pair = segments.first_rows(pairs)
    new_bucket = new_pair.copy()
    new_bucket[1:] |= buckets[1:] != buckets[:-1]
    starts, ends = segments.starts_and_ends(new_bucket)
    # A bucket is closed once its pair's last candle ends at or after the bucket's end.
    pair_ends = segments.starts_and_ends(new_pair)[1]
    last = time[pair_ends][segments.run_of(new_pair)[starts]]
    bucket_time = buckets[starts]
    keep = np.flatnonzero(bucket_time + interval.ms <= last + source.ms)
    columns = (
        bucket_time[keep],
        open[starts[keep]],
        np.maximum.reduceat(high, starts)[keep],
        np.minimum.reduceat(low, starts)[keep],
        close[ends[keep]],
        np.add.reduceat(volume, starts)[keep],
        (ends - starts + 1)[keep].astype(np.int64),
    )
    return _split(pairs[starts[keep]], columns, interval)


def _split(
    owners: npt.NDArray[np.integer],
    columns: tuple[npt.NDArray[np.generic], ...],
    interval: Interval,
) -> dict[int, Rollup]:
    if len(owners) == 0:
        return {}
    starts, ends = segments.starts_and_ends(segments.first_rows(owners))
    return {
        int(owners[a]): Rollup(interval, *(c[a : b + 1] for c in columns))  # type: ignore[arg-type]
        for a, b in zip(starts, ends, strict=True)
    }


def empty(interval: Interval) -> Rollup:
    """No buckets at ``interval``."""
    f = np.empty(0, dtype=np.float64)
    i = np.empty(0, dtype=np.int64)
    return Rollup(interval, i, f, f, f, f, f, i)
