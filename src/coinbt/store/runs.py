"""Stored backtest runs: the spec, metrics and trades as JSON, the equity curve as bytes."""

from __future__ import annotations

import json

import numpy as np

from coinbt.domain.market import StoredRun
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
