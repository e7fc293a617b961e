"""A pair's daily history for its dashboard row: the highest high and lowest low of its daily
candles and daily rollups, how many days they cover and the last one.

Read from the weekly rollups where they hold the same figures: a pair's daily and weekly
rollups come from the same candles, recomputed from the same week on, so the extremes of
its closed weeks plus the days of the still-open week are those of every day, with a
seventh of the rows to read; the day count and last day are in the series row. Pairs with
daily candles of their own (days may overlap) or pruned source candles (rollups kept from
older candles) are aggregated from the days themselves.
"""

from __future__ import annotations

from typing import Any

from coinbt.domain.interval import Interval
from coinbt.domain.market import SeriesInfo
from coinbt.store.driver import Session, placeholders, since_clause
from coinbt.store.rollups import keep_floor, rollup_source
from coinbt.store.summary import DailyFigures

_FAR = 2**62
_GROUPS = 16
"""Distinct open-week bounds in one query; beyond, nearby bounds share the earliest one."""


def daily_figures(
    session: Session, ids: list[int], series: dict[int, list[SeriesInfo]]
) -> dict[int, DailyFigures]:
    """The daily figures of the pairs that have a daily history (others are left out)."""
    days = {cid: _rolled_days(series.get(cid, [])) for cid in ids}
    weekly = {cid: info for cid, info in days.items() if info is not None}
    found = _from_weeks(session, weekly, series) if weekly else {}
    rest = [cid for cid in ids if days[cid] is None and _has_days(series.get(cid, []))]
    if rest:
        found.update(_from_days(session, rest))
    return found


def _rolled_days(series: list[SeriesInfo]) -> SeriesInfo | None:
    """The daily rollup series when the weekly rollups can stand for its days."""
    if any(s.interval is Interval.D1 and not s.rollup for s in series):
        return None
    source = rollup_source(series)
    if source is None or keep_floor(series, source) is not None:
        return None
    return next((s for s in series if s.interval is Interval.D1 and s.rollup), None)


def _has_days(series: list[SeriesInfo]) -> bool:
    return any(s.interval is Interval.D1 for s in series)


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
        f" WHERE interval = '1w' AND crypto_id IN ({placeholders(len(ids))})"
        f" UNION ALL SELECT crypto_id, high, low FROM rollups WHERE interval = '1d' AND ({where})"
        ") AS daily GROUP BY crypto_id",
        (*ids, *params),
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
    marks = placeholders(len(ids))
    rows: list[tuple[Any, ...]] = session.rows(
        "SELECT crypto_id, max(high), min(low), count(DISTINCT open_time), max(open_time) FROM ("
        " SELECT crypto_id, open_time, high, low FROM candles"
        f" WHERE interval = '1d' AND crypto_id IN ({marks})"
        " UNION ALL SELECT crypto_id, open_time, high, low FROM rollups"
        f" WHERE interval = '1d' AND crypto_id IN ({marks})"
        ") AS daily GROUP BY crypto_id",
        (*ids, *ids),
    )
    return {
        int(cid): DailyFigures(float(hi), float(lo), int(n), int(last))
        for cid, hi, lo, n, last in rows
    }
