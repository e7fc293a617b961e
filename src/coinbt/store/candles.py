"""Candle writes and reads over a :class:`~coinbt.store.driver.Session`: the SQL lives here.

Writes are upserts keyed by (pair, interval, open time): a candle written twice changes
nothing, a revised candle replaces the old one, and the report says which was which. Many
pairs are written with a constant number of statements (one staged bulk load, one insert),
so an import of hundreds of pairs or an hourly update of all of them costs a few queries,
not a few per pair. Reads come back as numpy columns straight from the driver.
"""

from __future__ import annotations

import time as clock
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.market import SeriesInfo
from coinbt.store import segments
from coinbt.store.driver import Session, among

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
_FAR = 2**62


@dataclass(frozen=True)
class Written:
    """What one pair's write changed: counts and the open times of changed candles."""

    crypto_id: int
    bars: Bars
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


def all_series(
    session: Session, crypto_ids: Iterable[int] | None = None
) -> dict[int, list[SeriesInfo]]:
    """Stored series (candles and rollups) of the given pairs, or of every pair."""
    sql = (
        "SELECT crypto_id, interval, rollup, first_time, last_time, candles, data_version "
        "FROM series"
    )
    params: tuple[object, ...] = ()
    if crypto_ids is not None:
        ids = list(crypto_ids)
        sql += " WHERE crypto_id = ANY(?)"
        params = (ids,)
    found: dict[int, list[SeriesInfo]] = defaultdict(list)
    for cid, ivl, is_rollup, first, last, count, version in session.rows(sql, params):
        found[int(cid)].append(
            SeriesInfo(
                Interval(ivl), int(first), int(last), int(count), int(version), bool(is_rollup)
            )
        )
    return found


def write_group(
    session: Session, interval: Interval, items: list[tuple[int, Bars]]
) -> list[Written]:
    """Upsert the candles of several pairs (each at most once) at one interval; bump the
    data version of each pair whose candles changed."""
    ids = [cid for cid, _ in items]
    priors = {
        cid: next((s for s in series if s.interval is interval and not s.rollup), None)
        for cid, series in all_series(session, ids).items()
    }
    appends = [(c, b) for c, b in items if _appends(priors.get(c), b)]
    overlaps = [(c, b) for c, b in items if not _appends(priors.get(c), b)]
    written = [_whole(c, b, priors.get(c)) for c, b in appends]
    if appends:
        session.stage("staged_candles", _stacked(appends))
        session.execute(
            f"INSERT INTO candles SELECT crypto_id, ?, {_COLUMNS} FROM staged_candles",
            (interval.value,),
        )
    if overlaps:
        written += _upsert(session, interval, overlaps, priors)
    save_series(session, interval, [w for w in written if w.version is not None])
    return written


def _appends(prior: SeriesInfo | None, bars: Bars) -> bool:
    # Every candle after the last stored one: all are new, no comparison needed.
    return prior is None or int(bars.time[0]) > prior.last_time


def _whole(crypto_id: int, bars: Bars, prior: SeriesInfo | None) -> Written:
    version = next_version(prior.data_version if prior else None)
    first, last = int(bars.time[0]), int(bars.time[-1])
    return Written(crypto_id, bars, len(bars), 0, first, last, prior, version)


def _upsert(
    session: Session,
    interval: Interval,
    items: list[tuple[int, Bars]],
    priors: dict[int, SeriesInfo | None],
) -> list[Written]:
    session.stage("staged_candles", _stacked(items))
    changed = session.arrays(
        "SELECT s.crypto_id, s.open_time, CAST(c.open_time IS NULL AS INTEGER) AS fresh "
        "FROM staged_candles s LEFT JOIN candles c ON c.crypto_id = s.crypto_id "
        f"AND c.interval = ? AND c.open_time = s.open_time WHERE c.open_time IS NULL OR {_DIFFERS}",
        (interval.value,),
        {"crypto_id": np.int32, "open_time": np.int64, "fresh": np.int32},
    )
    if len(changed["open_time"]):
        session.execute(
            f"INSERT INTO candles SELECT crypto_id, ?, {_COLUMNS} FROM staged_candles "
            "ON CONFLICT (crypto_id, interval, open_time) DO UPDATE SET open = excluded.open, "
            "high = excluded.high, low = excluded.low, close = excluded.close, "
            f"volume = excluded.volume WHERE {_REVISED}",
            (interval.value,),
        )
    return [_changes(cid, bars, priors.get(cid), changed) for cid, bars in items]


def _changes(
    crypto_id: int, bars: Bars, prior: SeriesInfo | None, changed: dict[str, Any]
) -> Written:
    mine = changed["crypto_id"] == crypto_id
    times = changed["open_time"][mine]
    if len(times) == 0:
        return Written(crypto_id, bars, 0, 0, None, None, prior, None)
    inserted = int(changed["fresh"][mine].sum())
    version = next_version(prior.data_version if prior else None)
    first, last = int(times.min()), int(times.max())
    return Written(crypto_id, bars, inserted, len(times) - inserted, first, last, prior, version)


def save_series(session: Session, interval: Interval, written: list[Written]) -> None:
    """Replace the series rows of the pairs written: span, count and new data version."""
    if not written:
        return
    spans = [_span(w) for w in written]
    columns = {
        "crypto_id": np.array([w.crypto_id for w in written], dtype=np.int32),
        "first_time": np.array([s[0] for s in spans], dtype=np.int64),
        "last_time": np.array([s[1] for s in spans], dtype=np.int64),
        "candles": np.array([s[2] for s in spans], dtype=np.int64),
        "data_version": np.array([w.version for w in written], dtype=np.int64),
    }
    replace_series(session, interval, False, columns)


def replace_series(
    session: Session, interval: Interval, rollup: bool, columns: dict[str, Any]
) -> None:
    """Delete and re-insert the series rows of ``columns["crypto_id"]`` in two statements."""
    ids = [int(c) for c in columns["crypto_id"]]
    session.execute(
        "DELETE FROM series WHERE interval = ? AND rollup = ? AND crypto_id = ANY(?)",
        (interval.value, rollup, ids),
    )
    session.stage("staged_series", columns)
    session.execute(
        "INSERT INTO series SELECT crypto_id, ?, ?, first_time, last_time, candles, "
        "data_version, ? FROM staged_series",
        (interval.value, rollup, now_ms()),
    )


def _span(w: Written) -> tuple[int, int, int]:
    first, last = int(w.bars.time[0]), int(w.bars.time[-1])
    if w.prior is None:
        return first, last, w.inserted
    return (
        min(first, w.prior.first_time),
        max(last, w.prior.last_time),
        w.prior.candles + w.inserted,
    )


def _stacked(items: list[tuple[int, Bars]]) -> dict[str, Any]:
    return {
        "crypto_id": np.concatenate([np.full(len(b), cid, dtype=np.int32) for cid, b in items]),
        "open_time": np.concatenate([b.time for _, b in items]),
        **{name: np.concatenate([getattr(b, name) for _, b in items]) for name in _VALUES},
    }


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
    # The id range is redundant with the list, but DuckDB pushes a range (not a list) into
    # its scan, where it skips the row groups of other pairs.
    ids_sql, ids = among(session, "crypto_id", crypto_ids)
    return session.arrays(
        f"SELECT crypto_id, {_COLUMNS} FROM {table} WHERE interval = ? "
        f"AND crypto_id BETWEEN ? AND ? AND {ids_sql} AND open_time BETWEEN ? AND ? "
        "ORDER BY crypto_id, open_time",
        (
            interval.value,
            min(crypto_ids),
            max(crypto_ids),
            *ids,
            start if start is not None else -_FAR,
            end if end is not None else _FAR,
        ),
        BATCH_DTYPES,
    )


def read_since(
    session: Session, table: str, starts: dict[int, int], interval: Interval
) -> dict[str, Any]:
    """Candles of many pairs at one interval, each from its own start time on, in one query
    (a join with the staged starts), ordered by pair id then time (see :func:`in_order`)."""
    session.stage(
        "staged_since",
        {
            "crypto_id": np.array(list(starts), dtype=np.int32),
            "start_time": np.array(list(starts.values()), dtype=np.int64),
        },
    )
    cols = ", ".join(f"c.{c}" for c in CANDLE_DTYPES)
    if not session.walks_index:
        # The constant bound lets the scan skip old rows before the hash join probes them.
        sql = (
            f"SELECT s.crypto_id, {cols} FROM staged_since s JOIN {table} c "
            "ON c.crypto_id = s.crypto_id AND c.interval = ? AND c.open_time >= s.start_time "
            "WHERE c.open_time >= ?"
        )
        params: tuple[object, ...] = (interval.value, min(starts.values()))
    else:
        # A LATERAL subquery fenced by OFFSET 0 makes PostgreSQL walk the primary key once
        # per pair: a plain join misjudges the `open_time >= start` selectivity and merges
        # the whole table (and it would flatten an unfenced subquery into that same join).
        sql = (
            f"SELECT s.crypto_id, {cols} FROM staged_since s CROSS JOIN LATERAL (SELECT {cols} "
            f"FROM {table} c WHERE c.crypto_id = s.crypto_id AND c.interval = ? "
            "AND c.open_time >= s.start_time OFFSET 0) c"
        )
        params = (interval.value,)
    return in_order(session.arrays(sql, params, BATCH_DTYPES))


def in_order(arrays: dict[str, Any]) -> dict[str, Any]:
    """``arrays`` ordered by pair id then open time. Reads of a few days per pair sort here
    rather than in SQL: rows usually arrive in order already (one index walk per pair after
    another), which one comparison pass confirms, and otherwise sorting small numpy arrays
    costs less than a sort in the query (and than moving the rows past it)."""
    ids, time = arrays["crypto_id"], arrays["open_time"]
    if len(ids) < 2:
        return arrays
    later = (ids[1:] > ids[:-1]) | ((ids[1:] == ids[:-1]) & (time[1:] > time[:-1]))
    if later.all():
        return arrays
    order = np.lexsort((time, ids))
    return {name: column[order] for name, column in arrays.items()}


def pair_index(arrays: dict[str, Any]) -> dict[int, slice]:
    """The rows of each pair in a :func:`read_range` result (sorted by pair id)."""
    ids = arrays["crypto_id"]
    if len(ids) == 0:
        return {}
    starts, ends = segments.starts_and_ends(segments.first_rows(ids))
    return {int(ids[a]): slice(int(a), int(b) + 1) for a, b in zip(starts, ends, strict=True)}


def pair_rows(index: dict[int, slice], crypto_id: int) -> slice:
    """The rows of one pair in a :func:`pair_index`; an empty slice when it has none."""
    return index.get(crypto_id, slice(0, 0))
