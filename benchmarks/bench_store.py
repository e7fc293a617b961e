"""Speed and size of the market-data store, DuckDB and PostgreSQL side by side.

Run ``.venv/bin/python benchmarks/bench_store.py`` (``--quick`` imports 20 pairs only;
``--backend``, ``--only`` and ``--pairs`` narrow a run; ``--help`` for options). It imports
the real Binance hourly files of ``--data-dir`` into a fresh DuckDB file and a fresh
PostgreSQL database (created and dropped here), then times,
median of ``--repeats`` runs (minimum in brackets):

- the import of every file (one timing, it changes the store);
- a read of one pair-year of hourly candles into numpy arrays;
- a read of every pair over one year, in one query;
- the dashboard summary of every pair, from the maintained table;
- an hourly update of every pair (one new candle each), which also refreshes the touched
  rollups and dashboard rows and bumps the data versions, in one transaction;
- a full rebuild of the dashboard, and of the rollups;
- the on-disk size per million hourly candles.

The seed system's figures for comparison: dashboard read 43 ms; 833 MB → 242 MB on disk
with compression (not per million candles; the seed's row count is not known).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from coinbt.domain.bars import Bars
from coinbt.services import market
from coinbt.store import SqlStore, open_store

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "binance_spot" / "1h"
)
YEAR_MS = 365 * 86_400_000
HOUR_MS = 3_600_000
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGETS = {
    "import": {"duckdb": 10.0, "postgresql": 60.0},
    "read one pair-year": {"duckdb": 0.005, "postgresql": 0.005},
    "read all pairs, one year": {"duckdb": 0.150, "postgresql": 1.5},
    "dashboard, all pairs": {"duckdb": 0.005, "postgresql": 0.005},
    "hourly update of every pair": {"duckdb": 0.200, "postgresql": 0.200},
    "dashboard full rebuild": {"duckdb": 2.0, "postgresql": 2.0},
}


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median and minimum seconds of ``repeats`` calls (after one warm-up call)."""
    fn()
    runs = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs), min(runs)


def next_hour(store: SqlStore, step: int) -> list[Bars]:
    """One new hourly candle per pair, after each pair's last one (a synthetic update)."""
    out = []
    for pair in store.pairs():
        hourly = next(s for s in pair.series if s.interval.value == "1h" and not s.rollup)
        t = hourly.last_time + HOUR_MS
        price = 100.0 + step
        out.append(
            Bars.from_arrays(
                pair.symbol, "1h", [t], [price], [price * 1.01], [price * 0.99], [price], [1.0]
            )
        )
    return out


FIGURES = (
    "read one pair-year",
    "read all pairs, one year",
    "dashboard, all pairs",
    "hourly update of every pair",
    "dashboard full rebuild",
    "rollups full rebuild",
)


def bench_backend(
    name: str, url: str, files: list[Path], repeats: int, only: set[str] | None = None
) -> dict[str, Any]:
    """Every figure of one backend (those in ``only`` when given; the import always runs)."""
    store = open_store(url)

    def timed_if(figure: str, fn: Callable[[], Any], times: int) -> tuple[float, float] | None:
        return timed(fn, times) if only is None or figure in only else None

    try:
        began = time.perf_counter()
        summary = market.import_files(store, files)
        figures: dict[str, Any] = {"import": (time.perf_counter() - began, None)}
        figures["candles"] = summary.candles
        pairs = store.pairs()
        biggest = max(pairs, key=lambda p: p.series[0].candles)
        # The year most pairs share: ending at the latest candle of the median pair.
        last = int(np.median([p.series[0].last_time for p in pairs])) // HOUR_MS * HOUR_MS
        own = biggest.series[0].last_time
        figures["read one pair-year"] = timed_if(
            "read one pair-year",
            lambda: store.read(biggest.id, "1h", own - YEAR_MS + HOUR_MS, own),
            repeats,
        )
        ids = [p.id for p in pairs]
        read = store.read_batch(ids, "1h", last - YEAR_MS + HOUR_MS, last)
        figures["all-pairs candles"] = len(read.batch.close) if read.batch else 0
        figures["read all pairs, one year"] = timed_if(
            "read all pairs, one year",
            lambda: store.read_batch(ids, "1h", last - YEAR_MS + HOUR_MS, last),
            repeats,
        )
        figures["dashboard, all pairs"] = timed_if(
            "dashboard, all pairs", store.dashboard, repeats * 4
        )
        steps = iter(range(1, 10_000))
        figures["hourly update of every pair"] = timed_if(
            "hourly update of every pair",
            lambda: store.ingest(next_hour(store, next(steps))),
            repeats,
        )
        figures["dashboard full rebuild"] = timed_if(
            "dashboard full rebuild", store.refresh_dashboard, repeats
        )
        figures["rollups full rebuild"] = timed_if("rollups full rebuild", store.refresh_rollups, 1)
        stats = store.stats()
        figures["MB per million hourly candles"] = (
            stats.size_bytes / 1e6 / (sum(stats.candles.values()) / 1e6)
        )
        figures["size MB"] = stats.size_bytes / 1e6
        return figures
    finally:
        store.close()


def with_postgres(fn: Callable[[str], dict[str, Any]], admin: str) -> dict[str, Any]:
    """Run ``fn`` on a fresh database, dropped afterwards."""
    import psycopg

    name = f"coinbt_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        return fn(admin.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        median, low = value
        text = f"{median * 1000:,.1f} ms" if median < 10 else f"{median:,.2f} s"
        return text + (f" ({low * 1000:,.1f})" if low is not None and median < 10 else "")
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def report(results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    if not names:
        print("no backend chosen")
        return
    rows = list(results[names[0]])
    print("| figure | " + " | ".join(names) + " | target (duckdb / postgresql) | ratio pg/duckdb |")
    print("|---|" + "---|" * (len(names) + 2))
    for row in rows:
        cells = [fmt(results[n][row]) for n in names]
        target = TARGETS.get(row)
        goal = f"{target['duckdb']:g} s / {target['postgresql']:g} s" if target else ""
        ratio = ""
        both = [results[n][row] for n in names]
        if len(names) == 2 and all(isinstance(v, tuple) for v in both):
            ratio = f"{results[names[1]][row][0] / results[names[0]][row][0]:.1f}×"
        print(f"| {row} | " + " | ".join(cells) + f" | {goal} | {ratio} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20 pairs, 3 repeats")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="maintenance database URL")
    parser.add_argument("--no-postgres", action="store_true", help="same as --backend duckdb")
    parser.add_argument("--backend", choices=("both", "duckdb", "postgresql"), default="both")
    parser.add_argument(
        "--only",
        action="append",
        metavar="FIGURE",
        help=f"time only this figure (repeatable; the import always runs): {'; '.join(FIGURES)}",
    )
    parser.add_argument("--pairs", type=int, help="import only the first N files")
    args = parser.parse_args()
    files = sorted(args.data_dir.glob("*.csv"))
    if not files:
        print(f"no candle files in {args.data_dir}", file=sys.stderr)
        return 2
    only = set(args.only) if args.only else None
    if only and not only <= set(FIGURES):
        print(f"unknown figure(s): {'; '.join(sorted(only - set(FIGURES)))}", file=sys.stderr)
        return 2
    repeats = args.repeats
    if args.quick:
        files, repeats = files[:20], 3
    if args.pairs:
        files = files[: args.pairs]
    backends = ("duckdb", "postgresql") if args.backend == "both" else (args.backend,)
    if args.no_postgres:
        backends = tuple(b for b in backends if b != "postgresql")
    results: dict[str, dict[str, Any]] = {}
    if "duckdb" in backends:
        folder = Path(tempfile.mkdtemp(prefix="coinbt-bench-"))
        try:
            results["duckdb"] = bench_backend(
                "duckdb", f"duckdb:///{folder / 'bench.db'}", files, repeats, only
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if "postgresql" in backends:
        results["postgresql"] = with_postgres(
            lambda url: bench_backend("postgresql", url, files, repeats, only),
            args.pg_admin,
        )
    print(f"{len(files)} files from {args.data_dir}; medians of {repeats} (minimum in brackets)\n")
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
