"""What the store derives from candles: daily and weekly rollups, and the dashboard rows.

Both are refreshed for exactly what an ingest touched, inside the ingest's transaction, so
no reader ever sees a new candle with an old rollup or summary; a full rebuild exists too.
The arithmetic is pure numpy (:mod:`coinbt.store.rollup`, :mod:`coinbt.store.summary`);
this module moves the data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from coinbt.domain.interval import Interval
from coinbt.domain.market import DashboardRow, SeriesInfo
from coinbt.store import rollup, summary
from coinbt.store.candles import (
    CANDLE_DTYPES,
    next_version,
    now_ms,
    read_range,
    save_series_row,
    series_info,
)
from coinbt.store.driver import Session, placeholders

_WEEK_MS = Interval.W1.ms


def all_series(
    session: Session, crypto_ids: Iterable[int] | None = None
) -> dict[int, list[SeriesInfo]]:
    """Stored series (candles and rollups) of the given pairs, or of every pair."""
    sql = "SELECT crypto_id, interval, rollup, first_time, last_time, candles, data_version FROM series"
    params: tuple[object, ...] = ()
    if crypto_ids is not None:
        ids = list(crypto_ids)
        sql += f" WHERE crypto_id IN ({placeholders(len(ids))})"
        params = tuple(ids)
    found: dict[int, list[SeriesInfo]] = defaultdict(list)
    for cid, ivl, is_rollup, first, last, count, version in session.rows(sql, params):
        info = SeriesInfo(
            Interval(ivl), int(first), int(last), int(count), int(version), bool(is_rollup)
        )
        found[int(cid)].append(info)
    return found


def rollup_source(series: list[SeriesInfo]) -> Interval | None:
    """The finest sub-daily interval of a pair: what its days and weeks are rolled up from."""
    sources = [s.interval for s in series if not s.rollup and rollup.is_rollup_source(s.interval)]
    return min(sources, key=lambda i: i.ms) if sources else None


def refresh_rollups(session: Session, crypto_id: int, source: Interval, since: int | None) -> None:
    """Recompute the rollup buckets of one pair from open time ``since`` on (every bucket
    when ``None``): delete them and write the closed ones again."""
    start = None if since is None else rollup.bucket_start(since, Interval.W1)
    candles = read_range(session, "candles", [crypto_id], source, start, None)
    for interval in rollup.ROLLUP_INTERVALS:
        buckets = rollup.aggregate(
            *(candles[c] for c in CANDLE_DTYPES), source=source, interval=interval
        )
        _replace_buckets(session, crypto_id, buckets, source, start)


def _replace_buckets(
    session: Session, crypto_id: int, buckets: rollup.Rollup, source: Interval, start: int | None
) -> None:
    ivl = buckets.interval.value
    session.execute(
        "DELETE FROM rollups WHERE crypto_id = ? AND interval = ? AND open_time >= ?",
        (crypto_id, ivl, start if start is not None else -(2**62)),
    )
    if len(buckets):
        session.stage(
            "staged_rollups",
            {
                "open_time": buckets.time,
                "open": buckets.open,
                "high": buckets.high,
                "low": buckets.low,
                "close": buckets.close,
                "volume": buckets.volume,
                "bars": buckets.bars.astype(np.int32),
            },
        )
        session.execute(
            "INSERT INTO rollups SELECT ?, ?, open_time, open, high, low, close, volume, bars, ? "
            "FROM staged_rollups",
            (crypto_id, ivl, source.value),
        )
    _save_rollup_series(session, crypto_id, buckets.interval)


def _save_rollup_series(session: Session, crypto_id: int, interval: Interval) -> None:
    first, last, count = session.rows(
        "SELECT min(open_time), max(open_time), count(*) FROM rollups "
        "WHERE crypto_id = ? AND interval = ?",
        (crypto_id, interval.value),
    )[0]
    prior = series_info(session, crypto_id, interval, rollup=True)
    if not count:
        session.execute(
            "DELETE FROM series WHERE crypto_id = ? AND interval = ? AND rollup = TRUE",
            (crypto_id, interval.value),
        )
        return
    version = next_version(prior.data_version if prior else None)
    save_series_row(
        session, crypto_id, interval, True, (int(first), int(last), int(count)), version
    )


def refresh_dashboard(session: Session, crypto_ids: Iterable[int] | None = None) -> int:
    """Recompute the dashboard rows of the given pairs (every pair when ``None``); the number
    of rows written. Pairs without candles lose their row."""
    series = all_series(session, crypto_ids)
    ids = sorted(series) if crypto_ids is None else sorted(set(crypto_ids))
    symbols = _symbols(session, ids)
    daily = _daily_figures(session, ids)
    rows = [
        summarize
        for summarize in _summaries(session, ids, series, symbols, daily)
        if summarize is not None
    ]
    session.execute(f"DELETE FROM dashboard WHERE crypto_id IN ({placeholders(len(ids))})", ids)
    if rows:
        _insert_rows(session, rows)
    return len(rows)


def _summaries(
    session: Session,
    ids: list[int],
    series: dict[int, list[SeriesInfo]],
    symbols: dict[int, str],
    daily: dict[int, summary.DailyFigures],
) -> list[DashboardRow | None]:
    finest = {cid: _finest(series.get(cid, [])) for cid in ids}
    groups: dict[tuple[Interval, int], list[int]] = defaultdict(list)
    for cid, info in finest.items():
        if info is not None:
            # Pairs last updated within the same week share one read of their recent candles.
            groups[(info.interval, info.last_time // _WEEK_MS)].append(cid)
    out: list[DashboardRow | None] = []
    for (interval, _), members in groups.items():
        start = min(summary.window_start(finest[c].last_time) for c in members)  # type: ignore[union-attr]
        recent = read_range(session, "candles", members, interval, start, None)
        out.extend(_per_pair(recent, members, finest, symbols, daily))
    return out


def _per_pair(
    recent: dict[str, Any],
    members: list[int],
    finest: dict[int, SeriesInfo | None],
    symbols: dict[int, str],
    daily: dict[int, summary.DailyFigures],
) -> list[DashboardRow | None]:
    ids = recent["crypto_id"]
    out: list[DashboardRow | None] = []
    for cid in members:
        lo, hi = np.searchsorted(ids, cid, "left"), np.searchsorted(ids, cid, "right")
        info = finest[cid]
        assert info is not None
        rows = slice(
            int(lo)
            + int(
                np.searchsorted(
                    recent["open_time"][lo:hi], summary.window_start(info.last_time), "left"
                )
            ),
            int(hi),
        )
        if rows.start >= rows.stop:
            out.append(None)
            continue
        window = summary.Recent(
            *(recent[c][rows] for c in ("open_time", "high", "low", "close", "volume"))
        )
        none = summary.DailyFigures(None, None, 0, None)
        out.append(summary.summarize(cid, symbols[cid], window, daily.get(cid, none)))
    return out


def _finest(series: list[SeriesInfo]) -> SeriesInfo | None:
    stored = [s for s in series if not s.rollup]
    return min(stored, key=lambda s: s.interval.ms) if stored else None


def _symbols(session: Session, ids: list[int]) -> dict[int, str]:
    rows = session.rows(
        f"SELECT id, symbol FROM cryptocurrencies WHERE id IN ({placeholders(len(ids))})", ids
    )
    return {int(cid): str(sym) for cid, sym in rows}


def _daily_figures(session: Session, ids: list[int]) -> dict[int, summary.DailyFigures]:
    marks = placeholders(len(ids))
    rows = session.rows(
        "SELECT crypto_id, max(high), min(low), count(DISTINCT open_time), max(open_time) FROM ("
        f" SELECT crypto_id, open_time, high, low FROM candles WHERE interval = '1d' AND crypto_id IN ({marks})"
        " UNION ALL"
        f" SELECT crypto_id, open_time, high, low FROM rollups WHERE interval = '1d' AND crypto_id IN ({marks})"
        ") AS daily GROUP BY crypto_id",
        (*ids, *ids),
    )
    return {
        int(cid): summary.DailyFigures(float(hi), float(lo), int(days), int(last))
        for cid, hi, lo, days, last in rows
    }


def _insert_rows(session: Session, rows: list[DashboardRow]) -> None:
    change = np.array(
        [r.change_24h_percent if r.change_24h_percent is not None else np.nan for r in rows]
    )
    columns: dict[str, Any] = {
        "crypto_id": np.array([r.crypto_id for r in rows], dtype=np.int32),
        "current_price": np.array([r.current_price for r in rows]),
        "change": np.nan_to_num(change),
        "has_change": (~np.isnan(change)).astype(np.int32),
    }
    for name in (
        "high_7d",
        "low_7d",
        "volume_7d",
        "high_30d",
        "low_30d",
        "volume_30d",
        "all_time_high",
        "all_time_low",
    ):
        columns[name] = np.array([getattr(r, name) for r in rows], dtype=np.float64)
    columns["total_days"] = np.array([r.total_days for r in rows], dtype=np.int32)
    columns["last_updated"] = np.array([r.last_updated for r in rows], dtype=np.int64)
    session.stage("staged_dashboard", columns)
    session.execute(
        "INSERT INTO dashboard SELECT crypto_id, current_price, "
        "CASE WHEN has_change = 1 THEN change ELSE NULL END, high_7d, low_7d, volume_7d, "
        "high_30d, low_30d, volume_30d, all_time_high, all_time_low, total_days, last_updated, ? "
        "FROM staged_dashboard",
        (now_ms(),),
    )
