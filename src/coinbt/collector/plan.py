"""Which candles a collection asks the exchange for, without any I/O.

A collection works pair by pair and interval by interval. For each series this module turns
what the store holds (a :class:`~coinbt.domain.market.SeriesInfo`, or nothing) and the holes
inside it (:class:`~coinbt.domain.market.Gap`) into the ranges to fetch:

- **full**: the whole history, from the pair's first candle on the exchange (a request from
  open time 0 starts there, so no extra request is spent finding the listing);
- **update**: the tail after the last stored candle, then every hole inside the stored
  history that is not a known exchange outage; a series never stored gets its full history.

While a range is fetched, :func:`continuity` watches the pages for missing open times, so
only series where the exchange skipped candles are checked for gaps afterwards. After a range
was fetched completely, a hole it covers that is still in the store is one the exchange itself
has (an outage): :func:`confirmed_gaps` names those, to be recorded as known gaps and never
asked for again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinbt.domain.interval import Interval
from coinbt.domain.market import Gap, SeriesInfo
from coinbt.errors import InputError

MODES: tuple[str, ...] = ("update", "full")
"""The kinds of collection run."""

HISTORY_START = 0
"""Where a full history starts: open time 0 makes the exchange answer from its first candle."""


@dataclass(frozen=True)
class FetchRange:
    """Candles opening in ``[start_ms, end_ms]`` (``end_ms`` ``None``: up to the newest
    closed one); ``reason`` is ``history``, ``tail`` or ``gap``."""

    start_ms: int
    end_ms: int | None
    reason: str

    def covers(self, start: int, end: int) -> bool:
        """True when ``[start, end]`` lies inside this range."""
        return self.start_ms <= start and (self.end_ms is None or end <= self.end_ms)


def check_mode(mode: str) -> str:
    """``mode`` if it is a collection mode; :class:`InputError` otherwise."""
    if mode not in MODES:
        raise InputError(
            f"unknown collection mode {mode!r}", hint="use update or full", field="mode"
        )
    return mode


def stored_series(series: Sequence[SeriesInfo], interval: Interval) -> SeriesInfo | None:
    """The pair's own stored candles at ``interval`` (rollups do not count), if any."""
    return next((s for s in series if s.interval is interval and not s.rollup), None)


def has_holes(series: SeriesInfo | None) -> bool:
    """True when the stored series misses bars between its first and last candle: it holds
    fewer candles than its span, so its gaps are worth listing (a cheap test first)."""
    if series is None:
        return False
    span = (series.last_time - series.first_time) // series.interval.ms + 1
    return series.candles < span


def plan_ranges(
    mode: str, interval: Interval, series: SeriesInfo | None, gaps: Sequence[Gap] = ()
) -> list[FetchRange]:
    """The ranges to fetch for one series, in the order to fetch them (the tail first: the
    freshest candles matter most; holes after it).

    ``gaps`` are the stored series' gaps; known ones (outages) are never asked for again.
    """
    check_mode(mode)
    if mode == "full" or series is None:
        return [FetchRange(HISTORY_START, None, "history")]
    ranges = [FetchRange(series.last_time + interval.ms, None, "tail")]
    ranges += [FetchRange(g.start, g.end, "gap") for g in gaps if not g.known]
    return ranges


def expected_candles(
    ranges: Sequence[FetchRange], interval: Interval, now_ms: int, first_ms: int | None = None
) -> int | None:
    """About how many closed candles the ranges hold by ``now_ms`` (for progress bars);
    ``None`` while a history range's start is unknown (``first_ms``: the first candle seen)."""
    total = 0
    last_closed = now_ms - interval.ms
    for r in ranges:
        start = r.start_ms
        if r.reason == "history":
            if first_ms is None:
                return None
            start = max(start, first_ms)
        end = last_closed if r.end_ms is None else min(r.end_ms, last_closed)
        total += max(0, (end - start) // interval.ms + 1)
    return total


def continuity(
    times: npt.NDArray[np.int64], interval: Interval, expected: int | None
) -> tuple[bool, int | None]:
    """Whether a page of open times ``times`` skips candles (from ``expected``, the open time
    due next, ``None`` at a history's start, or between its own rows), and the open time due
    after it."""
    if len(times) == 0:
        return False, expected
    skipped = expected is not None and int(times[0]) != expected
    skipped = skipped or bool(np.any(np.diff(times) != interval.ms))
    return skipped, int(times[-1]) + interval.ms


def ends_short(fetched: FetchRange, expected: int | None) -> bool:
    """True when a bounded range's pages stopped before its end (``expected`` is the open
    time due next): the exchange has nothing for the rest of it."""
    return fetched.end_ms is not None and expected is not None and expected <= fetched.end_ms


def confirmed_gaps(gaps: Sequence[Gap], fetched: Sequence[FetchRange]) -> list[Gap]:
    """The unknown gaps still in the store that a completely fetched range covers: the
    exchange was asked for them and has no candles there."""
    return [g for g in gaps if not g.known and any(r.covers(g.start, g.end) for r in fetched)]


__all__ = [
    "HISTORY_START",
    "MODES",
    "FetchRange",
    "check_mode",
    "confirmed_gaps",
    "continuity",
    "ends_short",
    "expected_candles",
    "has_holes",
    "plan_ranges",
    "stored_series",
]
