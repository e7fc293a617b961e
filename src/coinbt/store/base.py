"""The market-data store contract, :class:`MarketStore`, that every backend fulfils.

Pairs are addressed by id or symbol (``PairKey``); candles travel as numpy columns
(:class:`~coinbt.domain.bars.Bars`, :class:`~coinbt.domain.bars.BarsBatch`); every write is
validated whole before anything is written and runs in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from coinbt.domain.bars import Bars, BarsBatch
from coinbt.domain.interval import Interval
from coinbt.domain.market import (
    DASHBOARD_FIELDS,
    DashboardRow,
    Gap,
    IngestReport,
    IngestRun,
    Pair,
    PairSpec,
    StoredRun,
    StoreStats,
)

PairKey = int | str
"""A pair's integer id (the seed's crypto_id) or its symbol (``BTCUSDT``)."""

DASHBOARD_SORTS: tuple[str, ...] = DASHBOARD_FIELDS
"""Columns the dashboard can be ordered by."""


@dataclass(frozen=True)
class BatchRead:
    """Candles of many pairs read in one query; pairs with nothing in range are ``missing``
    (symbol → reason) rather than failing the rest."""

    batch: BarsBatch | None
    crypto_ids: tuple[int, ...]
    missing: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """A backtest result to keep: what :meth:`MarketStore.save_run` stores."""

    crypto_id: int | None
    symbol: str
    interval: str
    strategy: str
    spec: dict[str, Any]
    metrics: dict[str, Any]
    trades: list[dict[str, Any]]
    equity_time: Any
    equity: Any


class MarketStore(Protocol):
    """Candles, rollups, the dashboard, data versions and stored runs of every pair."""

    backend: str

    def migrate(self) -> list[str]:
        """Apply pending schema migrations; the names of those applied."""

    def schema_version(self) -> int:
        """The database's schema version."""

    def register_pairs(self, specs: Sequence[PairSpec]) -> list[Pair]:
        """Add pairs (or update their base, quote, exchange and active flag); ids are stable."""

    def pairs(self, *, active_only: bool = False, quote: str | None = None) -> list[Pair]:
        """Every pair, ordered by id, with its stored series."""

    def pair(self, key: PairKey) -> Pair:
        """One pair by id or symbol; :class:`~coinbt.errors.NotFoundError` if unknown."""

    def ingest(
        self, bars: Bars | Sequence[Bars], *, exchange: str = "binance"
    ) -> list[IngestReport]:
        """Validate, then in one transaction upsert the candles, refresh the touched rollup
        buckets and dashboard rows, and bump the touched data versions."""

    def read(
        self,
        key: PairKey,
        interval: Interval | str,
        start: int | None = None,
        end: int | None = None,
    ) -> Bars:
        """Candles of one pair with open time in ``[start, end]`` (1d/1w from rollups when
        the pair has no such candles of its own)."""

    def read_batch(
        self,
        keys: Sequence[PairKey],
        interval: Interval | str,
        start: int | None = None,
        end: int | None = None,
    ) -> BatchRead:
        """Candles of many pairs in one query, straight into one batch of numpy columns."""

    def data_version(self, key: PairKey, interval: Interval | str) -> int:
        """The version of the candles a read of this pair and interval returns; 0 if none."""

    def data_versions(self, keys: Sequence[PairKey], interval: Interval | str) -> dict[int, int]:
        """:meth:`data_version` of many pairs at once, by pair id."""

    def remembered_versions(
        self, keys: Sequence[PairKey], interval: Interval | str
    ) -> dict[int, int] | None:
        """:meth:`data_versions` when the store can answer without asking the database
        (what it read since this process last wrote candles, where no other process
        writes), else ``None``. Never blocks: an async server may call it on its loop."""

    def gaps(self, key: PairKey, interval: Interval | str) -> list[Gap]:
        """Missing bars between stored candles, marking those recorded as known outages."""

    def record_gap(
        self, key: PairKey, interval: Interval | str, start: int, end: int, reason: str
    ) -> None:
        """Remember that the exchange itself has no candles in ``[start, end]``."""

    def refresh_rollups(self, keys: Sequence[PairKey] | None = None) -> int:
        """Rebuild the daily and weekly rollups of the given pairs (all when ``None``)."""

    def refresh_dashboard(self, keys: Sequence[PairKey] | None = None) -> int:
        """Recompute the dashboard rows of the given pairs (all when ``None``)."""

    def dashboard(
        self,
        *,
        sort: str = "symbol",
        descending: bool = False,
        limit: int | None = None,
        quote: str | None = None,
    ) -> list[DashboardRow]:
        """The maintained summary, ordered by ``sort`` (one of :data:`DASHBOARD_SORTS`)."""

    def delete_before(self, key: PairKey, interval: Interval | str, before: int) -> int:
        """Drop a pair's candles opened before ``before`` (retention); rollups stay."""

    def save_run(self, run: RunRecord) -> int:
        """Keep a backtest result; its id."""

    def get_run(self, run_id: int) -> StoredRun:
        """A stored result; :class:`~coinbt.errors.NotFoundError` if unknown."""

    def save_ingest_run(self, run: IngestRun) -> int:
        """Keep the record of a collection or import run; its id."""

    def ingest_runs(self, *, limit: int = 20, kind: str | None = None) -> list[IngestRun]:
        """The latest collection and import runs, newest first."""

    def exclusive(self, name: str, *, wait: bool = False) -> AbstractContextManager[bool]:
        """A lock held across threads and processes (e.g. one collection at a time): yields
        True while held, or False at once when another holder has it and ``wait`` is false."""

    def stats(self) -> StoreStats:
        """Pairs, candles, rollups, size on disk and gaps."""

    def close(self) -> None:
        """Release the database."""
