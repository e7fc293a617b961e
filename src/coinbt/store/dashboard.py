"""The maintained dashboard: one summary row per pair, refreshed for the pairs an ingest
touched inside its transaction (so no reader sees a new candle with an old summary), or for
every pair on demand. The arithmetic is :mod:`coinbt.store.summary`; this module moves data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from coinbt.domain.interval import Interval
from coinbt.domain.market import DashboardRow, SeriesInfo
from coinbt.store import history, summary
from coinbt.store.candles import all_series, now_ms
from coinbt.store.driver import Session
from coinbt.store.recent import read_recent


def refresh_dashboard(session: Session, crypto_ids: Iterable[int] | None = None) -> int:
    """Recompute the dashboard rows of the given pairs (every pair when ``None``); the number
    of rows written. Pairs without candles lose their row."""
    series = all_series(session, crypto_ids)
    ids = sorted(series) if crypto_ids is None else sorted(set(crypto_ids))
    symbols = _symbols(session, ids)
    daily = history.daily_figures(session, ids, series)
    rows = _summaries(session, ids, series, symbols, daily)
    session.execute("DELETE FROM dashboard WHERE crypto_id = ANY(?)", (ids,))
    if rows:
        _insert_rows(session, rows)
    return len(rows)


def _summaries(
    session: Session,
    ids: list[int],
    series: dict[int, list[SeriesInfo]],
    symbols: dict[int, str],
    daily: dict[int, summary.DailyFigures],
) -> list[DashboardRow]:
    finest = {cid: _finest(series.get(cid, [])) for cid in ids}
    groups: dict[Interval, dict[int, int]] = defaultdict(dict)
    for cid, info in finest.items():
        if info is not None:
            groups[info.interval][cid] = info.last_time
    out: list[DashboardRow] = []
    for interval, last in groups.items():
        recent = read_recent(session, interval, last, series)
        out.extend(_per_pair(recent, list(last), series, symbols, daily))
    return out


def _per_pair(
    recent: dict[str, Any],
    members: list[int],
    series: dict[int, list[SeriesInfo]],
    symbols: dict[int, str],
    daily: dict[int, summary.DailyFigures],
) -> list[DashboardRow]:
    """The rows of the pairs ``recent`` holds candles of (pairs without any get none)."""
    none = summary.DailyFigures(None, None, 0, None)
    facts = {
        cid: summary.PairFacts(
            symbols[cid],
            daily.get(cid, none),
            tuple(s.last_time for s in series.get(cid, []) if not s.rollup),
        )
        for cid in members
    }
    return summary.summarize_pairs(
        recent["crypto_id"],
        recent["open_time"],
        recent["high"],
        recent["low"],
        recent["close"],
        recent["volume"],
        facts,
    )


def _finest(series: list[SeriesInfo]) -> SeriesInfo | None:
    stored = [s for s in series if not s.rollup]
    return min(stored, key=lambda s: s.interval.ms) if stored else None


def _symbols(session: Session, ids: list[int]) -> dict[int, str]:
    rows = session.rows("SELECT id, symbol FROM cryptocurrencies WHERE id = ANY(?)", (ids,))
    return {int(cid): str(sym) for cid, sym in rows}


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


_COLUMNS = (
    "d.crypto_id, c.symbol, current_price, change_24h_percent, high_7d, low_7d, volume_7d, "
    "high_30d, low_30d, volume_30d, all_time_high, all_time_low, total_days, last_updated"
)


def read_rows(
    session: Session, sort: str, descending: bool, limit: int | None, quote: str | None
) -> list[DashboardRow]:
    """The maintained rows ordered by ``sort`` (a checked column name), undefined last."""
    column = "c.symbol" if sort == "symbol" else f"d.{sort}"
    sql = f"SELECT {_COLUMNS} FROM dashboard d JOIN cryptocurrencies c ON c.id = d.crypto_id"
    params: list[object] = []
    if quote:
        sql += " WHERE c.quote = ?"
        params.append(quote.upper())
    sql += f" ORDER BY {column} {'DESC' if descending else 'ASC'} NULLS LAST, c.symbol"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [_row(r) for r in session.rows(sql, params)]


def _row(r: tuple[Any, ...]) -> DashboardRow:
    high_7d, low_7d, volume_7d, high_30d, low_30d, volume_30d, ath, atl = (
        float(x) for x in r[4:12]
    )
    return DashboardRow(
        crypto_id=int(r[0]),
        symbol=str(r[1]),
        current_price=float(r[2]),
        change_24h_percent=None if r[3] is None else float(r[3]),
        high_7d=high_7d,
        low_7d=low_7d,
        volume_7d=volume_7d,
        high_30d=high_30d,
        low_30d=low_30d,
        volume_30d=volume_30d,
        all_time_high=ath,
        all_time_low=atl,
        total_days=int(r[12]),
        last_updated=int(r[13]),
    )


class SummaryCache:
    """The dashboard rows of the last read, reused while no series changed.

    Every change of candles gives its series a larger data version, so the number of series
    and the sum of their versions together say whether any row can differ; that check is
    one small query, and it sees what other processes wrote."""

    def __init__(self) -> None:
        self._token: tuple[Any, ...] | None = None
        self._rows: list[DashboardRow] = []
        self._quotes: dict[int, str] = {}

    def rows(
        self, session: Session, sort: str, descending: bool, limit: int | None, quote: str | None
    ) -> list[DashboardRow]:
        """Rows ordered by ``sort`` (a checked column name), undefined values last."""
        token = tuple(session.rows("SELECT count(*), sum(data_version) FROM series")[0])
        if token != self._token:
            self._rows = read_rows(session, "symbol", False, None, None)
            quotes = session.rows("SELECT id, quote FROM cryptocurrencies")
            self._quotes = {int(cid): str(q) for cid, q in quotes}
            self._token = token
        chosen = self._rows
        if quote:
            chosen = [r for r in chosen if self._quotes.get(r.crypto_id) == quote.upper()]
        ordered = _ordered(chosen, sort, descending)
        return ordered if limit is None else ordered[:limit]


def _ordered(rows: list[DashboardRow], sort: str, descending: bool) -> list[DashboardRow]:
    # Rows come sorted by symbol; a stable sort keeps that order among equal values, as the
    # SQL tie-breaker does.
    known = [r for r in rows if getattr(r, sort) is not None]
    unknown = [r for r in rows if getattr(r, sort) is None]
    return sorted(known, key=lambda r: getattr(r, sort), reverse=descending) + unknown
