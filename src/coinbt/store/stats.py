"""Gaps in stored candles (missing bars between consecutive candles) and retention."""

from __future__ import annotations

import numpy as np

from coinbt.domain.interval import Interval
from coinbt.domain.market import Gap, Pair
from coinbt.store.candles import next_version, replace_series
from coinbt.store.driver import Session

_INTERVAL_MS = ", ".join(f"('{i.value}', {i.ms})" for i in Interval)


def list_gaps(s: Session, crypto_id: int, interval: Interval) -> list[Gap]:
    """Every run of missing bars in one series, oldest first; known outages are marked."""
    rows = s.rows(
        "SELECT open_time, next_time FROM (SELECT open_time, lead(open_time) OVER "
        "(ORDER BY open_time) AS next_time FROM candles WHERE crypto_id = ? AND interval = ?) t "
        "WHERE next_time - open_time > ? ORDER BY open_time",
        (crypto_id, interval.value, interval.ms),
    )
    known = s.rows(
        "SELECT start_time, end_time, reason FROM known_gaps WHERE crypto_id = ? AND interval = ?",
        (crypto_id, interval.value),
    )
    gaps = []
    for before, after in rows:
        start, end = int(before) + interval.ms, int(after) - interval.ms
        reason = next((str(r) for ks, ke, r in known if ks <= start and end <= ke), None)
        gaps.append(Gap(interval, start, end, reason is not None, reason or ""))
    return gaps


def count_gaps(s: Session) -> tuple[int, int]:
    """Gaps and missing bars over every stored series."""
    row = s.rows(
        "SELECT count(*), coalesce(sum((next_time - open_time) / iv.ms - 1), 0) FROM ("
        " SELECT interval, open_time, lead(open_time) OVER "
        " (PARTITION BY crypto_id, interval ORDER BY open_time) AS next_time FROM candles"
        f") t JOIN (VALUES {_INTERVAL_MS}) AS iv (name, ms) ON iv.name = t.interval "
        "WHERE next_time - open_time > iv.ms"
    )[0]
    return int(row[0]), int(row[1])


def delete_before(s: Session, pair: Pair, interval: Interval, before: int) -> int:
    """Drop a pair's candles opened before ``before`` and update its series; rollups stay."""
    where = "crypto_id = ? AND interval = ?"
    n = int(
        s.rows(
            f"SELECT count(*) FROM candles WHERE {where} AND open_time < ?",
            (pair.id, interval.value, before),
        )[0][0]
    )
    if n == 0:
        return 0
    s.execute(
        f"DELETE FROM candles WHERE {where} AND open_time < ?", (pair.id, interval.value, before)
    )
    first, last, count = s.rows(
        f"SELECT min(open_time), max(open_time), count(*) FROM candles WHERE {where}",
        (pair.id, interval.value),
    )[0]
    if not count:
        s.execute(f"DELETE FROM series WHERE {where} AND NOT rollup", (pair.id, interval.value))
        return n
    prior = next(x for x in pair.series if x.interval is interval and not x.rollup)
    columns = {
        "crypto_id": np.array([pair.id], dtype=np.int32),
        "first_time": np.array([int(first)], dtype=np.int64),
        "last_time": np.array([int(last)], dtype=np.int64),
        "candles": np.array([int(count)], dtype=np.int64),
        "data_version": np.array([next_version(prior.data_version)], dtype=np.int64),
    }
    replace_series(s, interval, False, columns)
    return n
