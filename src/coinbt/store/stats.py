"""Gaps in stored candles: missing bars between consecutive candles of a series."""

from __future__ import annotations

from coinbt.domain.interval import Interval
from coinbt.domain.market import Gap
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
