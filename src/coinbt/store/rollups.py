"""Daily and weekly rollups kept current: recompute exactly the buckets an ingest touched.

A pair's rollups come from its finest sub-daily candles. After a write, each touched pair's
buckets are recomputed from the week holding the earliest changed candle (or the previous
last candle, which may have closed a bucket) onwards; all pairs are done with a constant
number of statements. The arithmetic is :mod:`coinbt.store.rollup`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.market import SeriesInfo
from coinbt.store import rollup, rollup_spans
from coinbt.store.candles import (
    CANDLE_DTYPES,
    Written,
    read_since,
)
from coinbt.store.driver import Session

_FAR = 2**62
_CHUNK = 64  # pairs per read in a full rebuild, to bound memory


@dataclass(frozen=True)
class Touch:
    """Recompute one pair's rollups from ``since`` (all of them when ``None``);
    ``fresh`` holds its candles when they are all in hand (a new series)."""

    crypto_id: int
    source: Interval
    since: int | None
    fresh: Bars | None = None
    floor: int | None = None
    """Rollup buckets starting before this are kept as they are: the source candles under
    them were dropped by retention, so the rollups are the only record left."""


def rollup_source(series: list[SeriesInfo]) -> Interval | None:
    """The sub-daily series a pair's days and weeks are rolled up from: the one reaching
    furthest back (the finest of those), so adding a finer, shorter series later never
    shortens the daily history."""
    sources = [s for s in series if not s.rollup and rollup.is_rollup_source(s.interval)]
    if not sources:
        return None
    return min(sources, key=lambda s: (s.first_time, s.interval.ms)).interval


def keep_floor(series: list[SeriesInfo], source: Interval) -> int | None:
    """The first source candle when rollups reach further back (history pruned), else None."""
    own = next((s for s in series if s.interval is source and not s.rollup), None)
    rolled = [s.first_time for s in series if s.rollup and s.interval is Interval.D1]
    if own is None or not rolled or min(rolled) >= rollup.bucket_start(own.first_time, Interval.D1):
        return None
    return own.first_time


def touches(written: list[Written], series: dict[int, list[SeriesInfo]]) -> list[Touch]:
    """The rollup work a write implies: pairs whose rollup source changed."""
    out: dict[int, Touch] = {}
    for w in written:
        own = series.get(w.crypto_id, [])
        if w.version is None or rollup_source(own) is not w.bars.interval:
            continue
        floor = keep_floor(own, w.bars.interval)
        if w.crypto_id in out:  # written twice in one call: rebuild it from the store
            out[w.crypto_id] = Touch(w.crypto_id, w.bars.interval, None, floor=floor)
        elif w.prior is None:
            out[w.crypto_id] = Touch(w.crypto_id, w.bars.interval, None, w.bars, floor)
        else:
            since = min(w.first_changed or w.prior.last_time, w.prior.last_time)
            out[w.crypto_id] = Touch(w.crypto_id, w.bars.interval, since, floor=floor)
    return list(out.values())


def refresh(session: Session, work: list[Touch]) -> None:
    """Recompute the touched buckets of every pair in ``work``: one read of the candles
    since each pair's touched week, then one delete and one insert per rollup interval."""
    by_source: dict[Interval, list[Touch]] = defaultdict(list)
    for touch in work:
        by_source[touch.source].append(touch)
    for source, group in by_source.items():
        starts = {t.crypto_id: _bucket(t.since) for t in group}
        for chunk in _chunks(group):
            buckets = _aggregate_chunk(session, source, chunk, starts)
            for interval in rollup.ROLLUP_INTERVALS:
                kept = {t.crypto_id: _kept_from(t, starts, interval) for t in chunk}
                rows = [(cid, _from(b, kept[cid])) for cid, b in buckets[interval]]
                _replace(session, interval, source, rows, kept)


def _kept_from(touch: Touch, starts: dict[int, int], interval: Interval) -> int:
    start = starts[touch.crypto_id]
    if touch.floor is None:
        return start
    first = rollup.bucket_start(touch.floor, interval)
    return max(start, first if first == touch.floor else first + interval.ms)


def _from(buckets: rollup.Rollup, start: int) -> rollup.Rollup:
    keep = buckets.time >= start
    if keep.all():
        return buckets
    return rollup.Rollup(
        buckets.interval,
        *(
            getattr(buckets, n)[keep]
            for n in ("time", "open", "high", "low", "close", "volume", "bars")
        ),
    )


def _chunks(group: list[Touch]) -> list[list[Touch]]:
    # A full rebuild reads every candle: a bounded number of pairs at a time.
    if all(t.since is not None for t in group):
        return [group]
    return [group[i : i + _CHUNK] for i in range(0, len(group), _CHUNK)]


def _aggregate_chunk(
    session: Session, source: Interval, chunk: list[Touch], starts: dict[int, int]
) -> dict[Interval, list[tuple[int, rollup.Rollup]]]:
    stored = {t.crypto_id: starts[t.crypto_id] for t in chunk if t.fresh is None}
    # The read holds each pair's candles from its start on (the join's condition).
    arrays = read_since(session, "candles", stored, source) if stored else None
    out: dict[Interval, list[tuple[int, rollup.Rollup]]] = {}
    for interval in rollup.ROLLUP_INTERVALS:
        found = {} if arrays is None else _aggregate_stored(arrays, source, interval)
        empty = rollup.empty(interval)
        out[interval] = [
            (t.crypto_id, _aggregate_fresh(t.fresh, source, interval))
            if t.fresh is not None
            else (t.crypto_id, found.get(t.crypto_id, empty))
            for t in chunk
        ]
    return out


def _aggregate_stored(
    arrays: dict[str, Any], source: Interval, interval: Interval
) -> dict[int, rollup.Rollup]:
    cols = [arrays[c] for c in CANDLE_DTYPES]
    return rollup.aggregate_pairs(arrays["crypto_id"], *cols, source=source, interval=interval)


def _aggregate_fresh(b: Bars, source: Interval, interval: Interval) -> rollup.Rollup:
    return rollup.aggregate(
        b.time, b.open, b.high, b.low, b.close, b.volume, source=source, interval=interval
    )


def _bucket(since: int | None) -> int:
    return -_FAR if since is None else rollup.bucket_start(since, Interval.W1)


def _replace(
    session: Session,
    interval: Interval,
    source: Interval,
    buckets: list[tuple[int, rollup.Rollup]],
    starts: dict[int, int],
) -> None:
    ids = [cid for cid, _ in buckets]
    priors = rollup_spans.read_spans(session, interval, ids)
    deleted = rollup_spans.delete_buckets(session, interval, {c: starts[c] for c in ids})
    rows = [(cid, b) for cid, b in buckets if len(b)]
    if rows:
        session.stage("staged_rollups", _stacked(rows))
        session.execute(
            "INSERT INTO rollups SELECT crypto_id, ?, open_time, open, high, low, close, volume, "
            "bars, ? FROM staged_rollups",
            (interval.value, source.value),
        )
    rollup_spans.save_spans(session, interval, priors, deleted, dict(buckets))


def _stacked(rows: list[tuple[int, rollup.Rollup]]) -> dict[str, Any]:
    return {
        "crypto_id": np.concatenate([np.full(len(b), cid, dtype=np.int32) for cid, b in rows]),
        "open_time": np.concatenate([b.time for _, b in rows]),
        **{
            name: np.concatenate([getattr(b, name) for _, b in rows])
            for name in ("open", "high", "low", "close", "volume")
        },
        "bars": np.concatenate([b.bars for _, b in rows]).astype(np.int32),
    }
