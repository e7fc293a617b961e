"""The series rows of rollups, kept current without rescanning a pair's whole history.

A refresh deletes a pair's buckets from its touched week on and inserts the recomputed ones.
The new span and count follow from the previous series row, the number of deleted buckets
(``DELETE … RETURNING``) and the inserted ones; only a pair that lost its last bucket without
a new one is aggregated again from the rollups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coinbt.domain.interval import Interval
from coinbt.store import rollup
from coinbt.store.candles import next_version, replace_series
from coinbt.store.driver import Session, since_clause

_GROUPS = 32
"""Distinct start times deleted with constant bounds on PostgreSQL; more use a join."""
_DELETED: dict[str, type[np.generic]] = {"crypto_id": np.int32}


@dataclass(frozen=True)
class Span:
    """A rollup series: first and last bucket, bucket count and data version (``count`` is
    -1 when only a rescan can tell)."""

    first: int
    last: int
    count: int
    version: int | None = None


def read_spans(session: Session, interval: Interval, ids: list[int]) -> dict[int, Span]:
    """The stored rollup series rows of ``ids`` at ``interval``."""
    rows = session.rows(
        "SELECT crypto_id, first_time, last_time, candles, data_version FROM series "
        "WHERE interval = ? AND rollup AND crypto_id = ANY(?)",
        (interval.value, ids),
    )
    return {int(r[0]): Span(int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


def delete_buckets(session: Session, interval: Interval, starts: dict[int, int]) -> dict[str, Any]:
    """Delete each pair's buckets from its start on; the pair of each deleted bucket."""
    if not session.walks_index or len(set(starts.values())) > _GROUPS:
        session.stage(
            "staged_starts",
            {
                "crypto_id": np.array(list(starts), dtype=np.int32),
                "start_time": np.array(list(starts.values()), dtype=np.int64),
            },
        )
        # The constant bound (the earliest start) spares the join most rows.
        return session.arrays(
            "DELETE FROM rollups WHERE interval = ? AND open_time >= ? AND EXISTS (SELECT 1 "
            "FROM staged_starts s WHERE s.crypto_id = rollups.crypto_id "
            "AND rollups.open_time >= s.start_time) RETURNING crypto_id",
            (interval.value, min(starts.values())),
            _DELETED,
        )
    where, params = since_clause(starts)
    return session.arrays(
        f"DELETE FROM rollups WHERE interval = ? AND ({where}) RETURNING crypto_id",
        [interval.value, *params],
        _DELETED,
    )


def save_spans(
    session: Session,
    interval: Interval,
    priors: dict[int, Span],
    deleted: dict[str, Any],
    inserted: dict[int, rollup.Rollup],
) -> None:
    """Write the series rows of the pairs in ``inserted`` (empty rollups included) after a
    :func:`delete_buckets` and the insert of their new buckets."""
    gone = _deleted_by_pair(deleted)
    spans: dict[int, Span | None] = {
        cid: _next_span(priors.get(cid), gone.get(cid, 0), buckets)
        for cid, buckets in inserted.items()
    }
    unknown = [cid for cid, span in spans.items() if span is not None and span.count < 0]
    if unknown:
        spans.update(_aggregate(session, interval, unknown))
    emptied = sorted(cid for cid, span in spans.items() if span is None)
    if emptied:
        session.execute(
            "DELETE FROM series WHERE interval = ? AND rollup AND crypto_id = ANY(?)",
            (interval.value, emptied),
        )
    kept = {cid: span for cid, span in spans.items() if span is not None}
    if kept:
        versions = {cid: priors[cid].version if cid in priors else None for cid in kept}
        replace_series(session, interval, True, _columns(kept, versions))


def _deleted_by_pair(deleted: dict[str, Any]) -> dict[int, int]:
    ids, counts = np.unique(deleted["crypto_id"], return_counts=True)
    return {int(c): int(n) for c, n in zip(ids, counts, strict=True)}


def _next_span(prior: Span | None, gone: int, new: rollup.Rollup) -> Span | None:
    """The series after the change; ``None`` when no bucket is left."""
    remaining = (prior.count if prior else 0) - gone
    if remaining <= 0 or prior is None:
        # Buckets are deleted from a start on: none left means every old one went.
        return Span(int(new.time[0]), int(new.time[-1]), len(new)) if len(new) else None
    if len(new):
        return Span(prior.first, int(new.time[-1]), remaining + len(new))
    if not gone:
        return Span(prior.first, prior.last, remaining)
    return Span(prior.first, prior.last, -1)  # the last bucket went: rescan


def _aggregate(session: Session, interval: Interval, ids: list[int]) -> dict[int, Span | None]:
    rows = session.rows(
        "SELECT crypto_id, min(open_time), max(open_time), count(*) "
        "FROM rollups WHERE interval = ? AND crypto_id = ANY(?) GROUP BY crypto_id",
        (interval.value, ids),
    )
    found: dict[int, Span | None] = dict.fromkeys(ids)
    for cid, first, last, count in rows:
        found[int(cid)] = Span(int(first), int(last), int(count))
    return found


def _columns(spans: dict[int, Span], versions: dict[int, int | None]) -> dict[str, Any]:
    ids = sorted(spans)
    return {
        "crypto_id": np.array(ids, dtype=np.int32),
        "first_time": np.array([spans[c].first for c in ids], dtype=np.int64),
        "last_time": np.array([spans[c].last for c in ids], dtype=np.int64),
        "candles": np.array([spans[c].count for c in ids], dtype=np.int64),
        "data_version": np.array([next_version(versions[c]) for c in ids], dtype=np.int64),
    }
