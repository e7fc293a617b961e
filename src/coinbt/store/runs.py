"""Stored runs: backtests (spec, metrics and trades as JSON, the equity curve as bytes) and
ingest runs (what each collection or import did)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from coinbt.domain.market import IngestRun, StoredRun
from coinbt.errors import NotFoundError
from coinbt.store.base import RunRecord
from coinbt.store.candles import now_ms
from coinbt.store.driver import Session


def save(s: Session, run: RunRecord) -> int:
    """Insert ``run``; its new id."""
    rows = s.rows(
        "INSERT INTO backtest_runs (created_at, crypto_id, symbol, interval, strategy, spec, "
        "metrics, trades, equity_time, equity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            now_ms(),
            run.crypto_id,
            run.symbol,
            run.interval,
            run.strategy,
            json.dumps(run.spec),
            json.dumps(run.metrics),
            json.dumps(run.trades),
            np.ascontiguousarray(run.equity_time, dtype="<i8").tobytes(),
            np.ascontiguousarray(run.equity, dtype="<f8").tobytes(),
        ),
    )
    return int(rows[0][0])


def load(s: Session, run_id: int) -> StoredRun:
    """The run with id ``run_id``; :class:`NotFoundError` when there is none."""
    rows = s.rows(
        "SELECT id, created_at, crypto_id, symbol, interval, strategy, spec, metrics, trades, "
        "equity_time, equity FROM backtest_runs WHERE id = ?",
        (int(run_id),),
    )
    if not rows:
        raise NotFoundError(
            f"no stored backtest run {run_id}", hint="use the id a run returned", field="id"
        )
    r = rows[0]
    return StoredRun(
        id=int(r[0]),
        created_at=int(r[1]),
        crypto_id=None if r[2] is None else int(r[2]),
        symbol=str(r[3]),
        interval=str(r[4]),
        strategy=str(r[5]),
        spec=json.loads(r[6]),
        metrics=json.loads(r[7]),
        trades=json.loads(r[8]),
        equity_time=np.frombuffer(bytes(r[9]), dtype="<i8").astype(np.int64),
        equity=np.frombuffer(bytes(r[10]), dtype="<f8").astype(np.float64),
    )


def save_ingest(s: Session, run: IngestRun) -> int:
    """Insert an ingest run record; its new id."""
    rows = s.rows(
        "INSERT INTO ingest_runs (kind, started_at, finished_at, status, pairs, candles_added, "
        "candles_revised, gaps, errors, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            run.kind,
            run.started_at,
            run.finished_at,
            run.status,
            run.pairs,
            run.candles_added,
            run.candles_revised,
            run.gaps,
            run.errors,
            json.dumps(run.detail),
        ),
    )
    return int(rows[0][0])


def recent_ingests(s: Session, limit: int, kind: str | None) -> list[IngestRun]:
    """The latest ingest runs, newest first."""
    sql = (
        "SELECT kind, started_at, finished_at, status, pairs, candles_added, candles_revised, "
        "gaps, errors, detail, id FROM ingest_runs"
    )
    params: list[object] = []
    if kind:
        sql += " WHERE kind = ?"
        params.append(kind)
    rows = s.rows(sql + " ORDER BY started_at DESC, id DESC LIMIT ?", [*params, int(limit)])
    return [_ingest_run(r) for r in rows]


def _ingest_run(r: tuple[Any, ...]) -> IngestRun:
    return IngestRun(
        kind=str(r[0]),
        started_at=int(r[1]),
        finished_at=int(r[2]),
        status=str(r[3]),
        pairs=int(r[4]),
        candles_added=int(r[5]),
        candles_revised=int(r[6]),
        gaps=int(r[7]),
        errors=int(r[8]),
        detail=json.loads(r[9]),
        id=int(r[10]),
    )
