"""Market-data use cases: import and export candle files, the dashboard, store upkeep.

Every ingest goes through :meth:`MarketStore.ingest`, which stores the candles, refreshes the
touched rollups and dashboard rows and bumps the data versions in one transaction; a file
import is one such ingest per file, so a bad file is refused whole and the files before it
stay stored (importing them again changes nothing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from coinbt.collector import archive, files
from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.market import DashboardRow, IngestReport
from coinbt.domain.timeutil import parse_end, parse_time
from coinbt.errors import InputError
from coinbt.services import backtests
from coinbt.store.base import MarketStore

Progress = Callable[[str, int], None]
"""Called after each file with its name and how many candles it held."""

CANDLE_SUFFIXES = (".csv", ".zip")
BATCH_CANDLES = 500_000
"""Candles per import transaction: large enough to amortise a commit, small enough to
keep memory low."""


@dataclass
class ImportSummary:
    """What an import did, file by file."""

    reports: list[IngestReport] = field(default_factory=list)
    files: int = 0

    @property
    def candles(self) -> int:
        """Candles read from the files."""
        return sum(r.received for r in self.reports)

    @property
    def inserted(self) -> int:
        """Candles that were new."""
        return sum(r.inserted for r in self.reports)

    @property
    def revised(self) -> int:
        """Candles that replaced a different stored one."""
        return sum(r.revised for r in self.reports)

    @property
    def pairs(self) -> int:
        """Distinct pairs touched."""
        return len({r.symbol for r in self.reports})


def candle_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The candle files named by ``paths``; a directory stands for the files under it."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in CANDLE_SUFFIXES))
        elif path.exists():
            found.append(path)
        else:
            raise InputError(
                f"no such file or directory: {path}", hint="check the path", field="paths"
            )
    if not found:
        raise InputError(
            "no candle files found",
            hint="give .csv or .zip files or folders holding them",
            field="paths",
        )
    return found


def import_files(
    store: MarketStore,
    paths: Sequence[str | os.PathLike[str]],
    *,
    symbol: str | None = None,
    interval: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Load candle files (the import CSV format or Binance archive CSV/zip) into the store.

    Files are written in batches of about :data:`BATCH_CANDLES` candles, one transaction
    each; a bad file stops the import with its name and lines, after the files read before
    it are stored (so running the same import again, fixed, picks up where it stopped)."""
    summary = ImportSummary()
    pending: list[Bars] = []
    try:
        for path in candle_files(paths):
            pending.append(read_candle_file(path, symbol=symbol, interval=interval))
            if progress is not None:
                progress(path.name, len(pending[-1]))
            if sum(len(b) for b in pending) >= BATCH_CANDLES:
                _flush(store, pending, summary)
    finally:
        _flush(store, pending, summary)
    return summary


def _flush(store: MarketStore, pending: list[Bars], summary: ImportSummary) -> None:
    if pending:
        summary.reports.extend(store.ingest(pending))
        summary.files += len(pending)
        pending.clear()


def load_sample(store: MarketStore) -> ImportSummary:
    """Load the bundled real sample (daily candles of every pair, hourly of the largest) into
    the store in one transaction; loading it again changes nothing."""
    bars = [*backtests.sample_bars("1d"), *backtests.sample_bars("1h")]
    return ImportSummary(reports=store.ingest(bars), files=0)


def read_candle_file(path: Path, *, symbol: str | None, interval: str | None) -> Bars:
    """The candles of one file: the import CSV format or a Binance archive CSV/zip."""
    return archive.read_candle_file(path, symbol=symbol, interval=interval)


def export_csv(
    store: MarketStore,
    key: str | int,
    target: str | os.PathLike[str] | TextIO,
    *,
    interval: str = "1h",
    start: str | None = None,
    end: str | None = None,
) -> int:
    """Write a pair's candles in the import format; the number of candles written."""
    lo = parse_time(start, field="start") if start else None
    hi = parse_end(end, field="end") if end else None
    bars = store.read(key, Interval.parse(interval), lo, hi)
    files.write_csv(bars, target)
    return len(bars)


def dashboard(
    store: MarketStore,
    *,
    sort: str = "symbol",
    descending: bool = False,
    limit: int | None = None,
    quote: str | None = None,
) -> list[DashboardRow]:
    """The maintained market summary."""
    if limit is not None and limit < 1:
        raise InputError("limit must be at least 1", hint="e.g. --limit 10", field="limit")
    return store.dashboard(sort=sort, descending=descending, limit=limit, quote=quote)


def movers(store: MarketStore, *, limit: int = 10, losers: bool = False) -> list[DashboardRow]:
    """Top gainers (or losers) by 24 h change."""
    return dashboard(store, sort="change_24h_percent", descending=not losers, limit=limit)
