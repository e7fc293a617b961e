"""A pair's daily history for its dashboard row: the highest high and lowest low of its daily
candles and daily rollups, how many days they cover and the last one.

The day count and last day are in the daily rollup series row. On PostgreSQL the extremes
come from the weekly rollups where they hold the same figures: a pair's daily and weekly
rollups come from the same candles, recomputed from the same week on, so the extremes of
its closed weeks plus the days of the still-open week are those of every day, from a
seventh of the rows. Pairs with pruned source candles (rollups kept from older candles)
read their daily rollups; pairs with daily candles of their own (days may overlap the
rollups) aggregate both.
"""

from __future__ import annotations

from typing import Any

from coinbt.domain.interval import Interval
from coinbt.domain.market import SeriesInfo
from coinbt.store.driver import Session, since_clause
from coinbt.store.rollups import keep_floor, rollup_source
from coinbt.store.summary import DailyFigures

_FAR = 2**62
_GROUPS = 16
"""Distinct open-week bounds in one query; beyond, nearby bounds share the earliest one."""


def daily_figures(
    session: Session, ids: list[int], series: dict[int, list[SeriesInfo]]
) -> dict[int, DailyFigures]:
    """The daily figures of the pairs that have a daily history (others are left out)."""
    own = [cid for cid in ids if _own_days(series.get(cid, []))]
    rolled = {
        cid: days
        for cid in ids
        if cid not in own and (days := _rolled_days(series.get(cid, []))) is not None
    }
    # Walking an index per pair, the weekly rollups are a seventh of the rows to read; a
    # column store scans the daily rollups faster than it joins in the weekly bounds.
    weekly = {
        cid: d for cid, d in rolled.items() if session.walks_index and _weeks_cover(series[cid])
    }
    daily = {cid: d for cid, d in rolled.items() if cid not in weekly}
    found = _from_days(session, own) if own else {}
    if weekly:
        found.update(_from_weeks(session, weekly, series))
    if daily:
        found.update(_from_rollups(session, daily))
    return found


def _own_days(series: list[SeriesInfo]) -> bool:
    # Daily candles of its own: days may overlap the rollups, so they are counted distinct.
    return any(s.interval is Interval.D1 and not s.rollup for s in series)


def _rolled_days(series: list[SeriesInfo]) -> SeriesInfo | None:
    return next((s for s in series if s.interval is Interval.D1 and s.rollup), None)


def _weeks_cover(series: list[SeriesInfo]) -> bool:
    """True when the weekly rollups hold the same candles as the daily ones (no source
    candle pruned: the rollups kept from older candles may differ between the two)."""
    source = rollup_source(series)
    return source is not None and keep_floor(series, source) is None


def _from_rollups(session: Session, days: dict[int, SeriesInfo]) -> dict[int, DailyFigures]:
    ids = sorted(days)
    rows = session.rows(
        "SELECT crypto_id, max(high), min(low) FROM rollups WHERE interval = '1d' "
        "AND crypto_id = ANY(?) GROUP BY crypto_id",
        (ids,),
    )
    return {
        int(c): DailyFigures(float(hi), float(lo), days[int(c)].candles, days[int(c)].last_time)
        for c, hi, lo in rows
    }


def _from_weeks(
    session: Session, days: dict[int, SeriesInfo], series: dict[int, list[SeriesInfo]]
) -> dict[int, DailyFigures]:
    ids = sorted(days)
    # Days after each pair's last closed week; a bound earlier than needed only re-reads
    # days its weeks already cover, which changes no extreme.
    where, params = since_clause(_coarse({cid: _open_week(series[cid]) for cid in ids}))
    rows = session.rows(
        "SELECT crypto_id, max(high), min(low) FROM ("
        " SELECT crypto_id, high, low FROM rollups"
        " WHERE interval = '1w' AND crypto_id = ANY(?)"
        f" UNION ALL SELECT crypto_id, high, low FROM rollups WHERE interval = '1d' AND ({where})"
        ") AS daily GROUP BY crypto_id",
        (ids, *params),
    )
    return {
        int(cid): DailyFigures(
            float(high), float(low), days[int(cid)].candles, days[int(cid)].last_time
        )
        for cid, high, low in rows
    }


def _open_week(series: list[SeriesInfo]) -> int:
    weeks = next((s for s in series if s.interval is Interval.W1 and s.rollup), None)
    return -_FAR if weeks is None else weeks.last_time + Interval.W1.ms


def _coarse(bounds: dict[int, int]) -> dict[int, int]:
    distinct = sorted(set(bounds.values()))
    if len(distinct) <= _GROUPS:
        return bounds
    step = -(-len(distinct) // _GROUPS)
    floor = {b: distinct[i // step * step] for i, b in enumerate(distinct)}
    return {cid: floor[b] for cid, b in bounds.items()}


def _from_days(session: Session, ids: list[int]) -> dict[int, DailyFigures]:
    rows: list[tuple[Any, ...]] = session.rows(
        "SELECT crypto_id, max(high), min(low), count(DISTINCT open_time), max(open_time) FROM ("
        " SELECT crypto_id, open_time, high, low FROM candles"
        " WHERE interval = '1d' AND crypto_id = ANY(?)"
        " UNION ALL SELECT crypto_id, open_time, high, low FROM rollups"
        " WHERE interval = '1d' AND crypto_id = ANY(?)"
        ") AS daily GROUP BY crypto_id",
        (ids, ids),
    )
    return {
        int(cid): DailyFigures(float(hi), float(lo), int(n), int(last))
        for cid, hi, lo, n, last in rows
    }
