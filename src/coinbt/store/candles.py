"""Candle writes and reads over a :class:`~coinbt.store.driver.Session`: the SQL lives here.

Writes are upserts keyed by (pair, interval, open time): a candle written twice changes
nothing, a revised candle replaces the old one, and the report says which was which. Reads
come back as numpy columns straight from the driver.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from typing import Any

import numpy as np

from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.market import SeriesInfo
from coinbt.store.driver import Session, placeholders

CANDLE_DTYPES: dict[str, type[np.generic]] = {
    "open_time": np.int64,
    "open": np.float64,
    "high": np.float64,
    "low": np.float64,
    "close": np.float64,
    "volume": np.float64,
}
BATCH_DTYPES: dict[str, type[np.generic]] = {"crypto_id": np.int32, **CANDLE_DTYPES}
_COLUMNS = "open_time, open, high, low, close, volume"
_VALUES = ("open", "high", "low", "close", "volume")
_DIFFERS = " OR ".join(f"c.{c} <> s.{c}" for c in _VALUES)
_REVISED = " OR ".join(f"candles.{c} <> excluded.{c}" for c in _VALUES)


@dataclass(frozen=True)
class Written:
    """What one series write changed: counts and the open times of changed candles."""

    inserted: int
    revised: int
    first_changed: int | None
    last_changed: int | None
    prior: SeriesInfo | None
    version: int | None


def now_ms() -> int:
    """The wall clock in UTC milliseconds."""
    return clock.time_ns() // 1_000_000


def next_version(prior: int | None) -> int:
    """A data version never used before, even across a dropped and recreated database:
    microseconds since 1970, and always above the previous one."""
    return max(clock.time_ns() // 1000, (prior or 0) + 1)


def series_info(
    session: Session, crypto_id: int, interval: Interval, rollup: bool
) -> SeriesInfo | None:
    """The stored series of a pair at one interval, or ``None``."""
    rows = session.rows(
        "SELECT first_time, last_time, candles, data_version FROM series "
        "WHERE crypto_id = ? AND interval = ? AND rollup = ?",
        (crypto_id, interval.value, rollup),
    )
    if not rows:
        return None
    first, last, count, version = rows[0]
    return SeriesInfo(interval, int(first), int(last), int(count), int(version), rollup)


def write_series(session: Session, crypto_id: int, bars: Bars) -> Written:
    """Upsert the candles of one pair and interval; bump its data version when they change."""
    prior = series_info(session, crypto_id, bars.interval, rollup=False)
    session.stage("staged_candles", _columns(bars))
    if prior is None or int(bars.time[0]) > prior.last_time:
        return _append(session, crypto_id, bars, prior)
    changed = session.arrays(
        "SELECT s.open_time, CAST(c.open_time IS NULL AS INTEGER) AS fresh "
        "FROM staged_candles s LEFT JOIN candles c ON c.crypto_id = ? AND c.interval = ? "
        f"AND c.open_time = s.open_time WHERE c.open_time IS NULL OR {_DIFFERS}",
        (crypto_id, bars.interval.value),
        {"open_time": np.int64, "fresh": np.int32},
    )
    times = changed["open_time"]
    if len(times) == 0:
        return Written(0, 0, None, None, prior, None)
    session.execute(
        f"INSERT INTO candles SELECT ?, ?, {_COLUMNS} FROM staged_candles "
        "ON CONFLICT (crypto_id, interval, open_time) DO UPDATE SET open = excluded.open, "
        "high = excluded.high, low = excluded.low, close = excluded.close, "
        f"volume = excluded.volume WHERE {_REVISED}",
        (crypto_id, bars.interval.value),
    )
    inserted = int(changed["fresh"].sum())
    version = _save_series(session, crypto_id, bars, prior, inserted)
    return Written(
        inserted, len(times) - inserted, int(times.min()), int(times.max()), prior, version
    )


def _append(session: Session, crypto_id: int, bars: Bars, prior: SeriesInfo | None) -> Written:
    # Every candle is after the last stored one: all are new, no comparison needed.
    session.execute(
        f"INSERT INTO candles SELECT ?, ?, {_COLUMNS} FROM staged_candles",
        (crypto_id, bars.interval.value),
    )
    version = _save_series(session, crypto_id, bars, prior, len(bars))
    return Written(len(bars), 0, int(bars.time[0]), int(bars.time[-1]), prior, version)


def _save_series(
    session: Session, crypto_id: int, bars: Bars, prior: SeriesInfo | None, inserted: int
) -> int:
    first, last = int(bars.time[0]), int(bars.time[-1])
    count = inserted
    if prior is not None:
        first, last = min(first, prior.first_time), max(last, prior.last_time)
        count += prior.candles
    version = next_version(prior.data_version if prior else None)
    save_series_row(session, crypto_id, bars.interval, False, (first, last, count), version)
    return version


def save_series_row(
    session: Session,
    crypto_id: int,
    interval: Interval,
    rollup: bool,
    span: tuple[int, int, int],
    version: int,
) -> None:
    """Insert or replace the series row: first and last open time, count, data version."""
    session.execute(
        "INSERT INTO series VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (crypto_id, interval, rollup) DO UPDATE SET first_time = excluded.first_time, "
        "last_time = excluded.last_time, candles = excluded.candles, "
        "data_version = excluded.data_version, updated_at = excluded.updated_at",
        (crypto_id, interval.value, rollup, *span, version, now_ms()),
    )


def read_range(
    session: Session,
    table: str,
    crypto_ids: list[int],
    interval: Interval,
    start: int | None,
    end: int | None,
) -> dict[str, Any]:
    """Candles of many pairs at one interval with open time in ``[start, end]``, in one
    query, ordered by pair id then time; columns ``crypto_id`` and :data:`CANDLE_DTYPES`."""
    lo = start if start is not None else -(2**62)
    hi = end if end is not None else 2**62
    return session.arrays(
        f"SELECT crypto_id, {_COLUMNS} FROM {table} WHERE interval = ? "
        f"AND crypto_id IN ({placeholders(len(crypto_ids))}) AND open_time BETWEEN ? AND ? "
        "ORDER BY crypto_id, open_time",
        (interval.value, *crypto_ids, lo, hi),
        BATCH_DTYPES,
    )


def _columns(bars: Bars) -> dict[str, Any]:
    return {
        "open_time": bars.time,
        "open": bars.open,
        "high": bars.high,
        "low": bars.low,
        "close": bars.close,
        "volume": bars.volume,
    }
