"""The recent candles a dashboard row is computed from, with whole days folded into their
daily rollups.

A row needs a pair's candles at its finest interval since ``last − 31 days``
(:func:`coinbt.store.summary.window_start`). Only the days the windows cut through need
their own candles: the first two days (the 31-day start and the 30-day edge), the day of
the 7-day edge, and the last two days (the 24 h reference and the still-open day). Every
other day enters as one row, its daily rollup: its open time is the day's start, its high,
low and volume those of its candles and its close that of its last candle, so every window
extreme, the 24 h reference close, the day count and (to rounding) every volume sum come out
as from the candles themselves, from a sixth of the rows. This holds where the daily rollups
are made of those very candles: the finest interval is the rollup source and no source
candle was pruned; other pairs read every candle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coinbt.domain.interval import Interval
from coinbt.domain.market import SeriesInfo
from coinbt.store import summary
from coinbt.store.candles import BATCH_DTYPES, CANDLE_DTYPES, in_order
from coinbt.store.driver import Session
from coinbt.store.rollups import keep_floor, rollup_source

DAY = summary.DAY_MS
_FAR = 2**62
_COLS = ", ".join(CANDLE_DTYPES)


def read_recent(
    session: Session, interval: Interval, last: dict[int, int], series: dict[int, list[SeriesInfo]]
) -> dict[str, Any]:
    """The recent rows of pairs whose finest interval is ``interval`` (their last open times
    in ``last``), ordered by pair then time; columns as :func:`candles.read_range`."""
    ids = sorted(last)
    cuts = np.array([_cuts(last[c], interval, series.get(c, [])) for c in ids], dtype=np.int64)
    session.stage(
        "staged_recent",
        {
            "crypto_id": np.array(ids, dtype=np.int32),
            **{name: cuts[:, i] for i, name in enumerate(("since", "head", "edge", "tail"))},
        },
    )
    # Candles in [since, head) ∪ [edge, edge + 1 day) ∪ [tail, …), daily rollups in
    # [head, tail) but the edge day.
    candles = (
        "(open_time >= s.since AND open_time < s.head) OR (open_time >= s.edge "
        f"AND open_time < s.edge + {DAY}) OR open_time >= s.tail"
    )
    rollups = "open_time >= s.head AND open_time < s.tail AND open_time <> s.edge"
    parts = [("candles", candles, interval), ("rollups", rollups, Interval.D1)]
    pick = _lateral if session.walks_index else _joined
    params: list[object] = []
    for _, _, ivl in parts:
        params += [ivl.value] if session.walks_index else [ivl.value, int(cuts[:, 0].min())]
    sql = " UNION ALL ".join(pick(table, where) for table, where, _ in parts)
    return in_order(session.arrays(sql, params, BATCH_DTYPES))


def _lateral(table: str, where: str) -> str:
    # One LATERAL per pair, fenced by OFFSET 0, so PostgreSQL walks the primary key per
    # range (see candles.read_since).
    return (
        f"SELECT s.crypto_id, c.* FROM staged_recent s CROSS JOIN LATERAL (SELECT {_COLS} "
        f"FROM {table} WHERE crypto_id = s.crypto_id AND interval = ? AND ({where}) "
        "OFFSET 0) c"
    )


def _joined(table: str, where: str) -> str:
    # A hash join; the constant bound (the earliest start) lets the scan skip old rows
    # before the join probes them.
    cols = ", ".join(f"c.{c}" for c in CANDLE_DTYPES)
    where = where.replace("open_time", "c.open_time")
    return (
        f"SELECT s.crypto_id, {cols} FROM staged_recent s JOIN {table} c "
        f"ON c.crypto_id = s.crypto_id AND c.interval = ? AND c.open_time >= ? WHERE {where}"
    )


def _cuts(last: int, interval: Interval, series: list[SeriesInfo]) -> tuple[int, int, int, int]:
    since = summary.window_start(last)
    if not _folds(interval, series):
        return since, _FAR, _FAR, _FAR  # every candle since the start, no rollup
    head = _day(last - summary.WINDOW_DAYS * DAY) + DAY
    return since, head, _day(last - 7 * DAY), _day(last) - DAY


def _folds(interval: Interval, series: list[SeriesInfo]) -> bool:
    """True when the pair's daily rollups are made of its ``interval`` candles, all kept."""
    source = rollup_source(series)
    return source is interval and keep_floor(series, source) is None


def _day(time: int) -> int:
    return time // DAY * DAY
