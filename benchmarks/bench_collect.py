"""Speed of a collection from the exchange: the real collector against the stand-in Binance.

Run ``.venv/bin/python benchmarks/bench_collect.py`` (``--help`` for options; ``--pairs 20
--days 30`` for a quick look). The stand-in (tests/support/fake_binance.py) runs in its own
process with no artificial latency, serving ``--pairs`` USDT pairs with ``--days`` of hourly
candles (263 × 365: about 2.3 M candles, 2,400 pages of 1,000). Its clock is fixed and moved
on from here (a line on its stdin), so the candles are the same in every run. Per backend:

- a **full collection** into an empty store (a fresh DuckDB file; a fresh PostgreSQL
  database, created and dropped here), end to end: exchange client, every page, every
  ingest with its rollups, dashboard rows and data versions, the gap check and the record;
- an **hourly update** of every pair (one new candle each, the server's clock one hour on),
  end to end, and within it the ingest calls and all store calls timed separately.

Medians of ``--repeats`` runs (minimum in brackets). Targets (issue 4): full ≤ 60 s, update
≤ 3 s, the update's store work ≤ 200 ms. Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from coinbt.collector.exchange import ExchangeConfig
from coinbt.domain.market import IngestRun
from coinbt.services.collect import BATCH_CANDLES, collect
from coinbt.store import open_store

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_717_245_000_000  # 2024-06-01 12:30 UTC
HOUR_MS = 3_600_000
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGETS = {"full": 60.0, "update": 3.0, "update store": 0.200}

# The stand-in in its own process; "now <ms>" on stdin moves its clock.
_SERVER = """
import sys
sys.path.insert(0, "tests")
from support.fake_binance import FakeBinance, make_pairs
pairs, days, now = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
server = FakeBinance(make_pairs(pairs, now_ms=now, days=days), now_ms=now).start()
print(server.url, flush=True)
for line in sys.stdin:
    server.now_ms = int(line.split()[1])
"""


class StandIn:
    """The stand-in server process."""

    def __init__(self, pairs: int, days: int) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(pairs), str(days), str(NOW)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()

    def set_now(self, now_ms: int) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"now {now_ms}\n")
        self._proc.stdin.flush()

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(10)


@contextlib.contextmanager
def empty_store(backend: str, workdir: Path) -> Iterator[str]:
    """The URL of an empty store; a PostgreSQL database is dropped afterwards."""
    if backend == "duckdb":
        path = workdir / f"{uuid.uuid4().hex}.db"
        yield f"duckdb:///{path}"
        for leftover in workdir.glob(path.name + "*"):
            leftover.unlink()
        return
    name = f"coinbt_bench_collect_{uuid.uuid4().hex}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            drop = pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(pgsql.Identifier(name)))


def one_round(
    server: StandIn, config: ExchangeConfig, url: str, updates: int, batch: int
) -> tuple[IngestRun, list[IngestRun]]:
    """A full collection into the empty store at ``url``, then ``updates`` hourly updates."""
    server.set_now(NOW)
    with open_store(url) as store:
        full = collect(store, config, mode="full", batch_candles=batch)
        runs = []
        for k in range(1, updates + 1):
            server.set_now(NOW + k * HOUR_MS)
            runs.append(collect(store, config, mode="update"))
    return full, runs


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f})"


def rows_for(backend: str, fulls: list[IngestRun], updates: list[IngestRun]) -> list[str]:
    """Markdown rows of one backend."""
    full_s = [r.duration_seconds for r in fulls]
    candles = fulls[0].candles_added
    rate = candles / statistics.median(full_s) / 1e6
    upd_s = [r.duration_seconds for r in updates]
    ingest_s = [r.detail["ingest_seconds"] for r in updates]
    store_s = [r.detail["store_seconds"] for r in updates]
    full_ingest = [r.detail["ingest_seconds"] for r in fulls]
    return [
        f"| {backend} | full collection | {spread(full_s)} | {TARGETS['full']:g} | "
        f"{candles:,} candles, {fulls[0].detail['pages']:,} pages, {rate:.2f} M candles/s; "
        f"ingest {spread(full_ingest)} s in {fulls[0].detail['ingests']} calls |",
        f"| {backend} | hourly update, end to end | {spread(upd_s)} | {TARGETS['update']:g} | "
        f"{updates[0].candles_added:,} candles of {updates[0].pairs} pairs |",
        f"| {backend} | hourly update, ingest calls | {spread(ingest_s)} | "
        f"{TARGETS['update store']:g} | one ingest call (candles, rollups, dashboard, "
        "versions) |",
        f"| {backend} | hourly update, all store calls | {spread(store_s)} | "
        f"{TARGETS['update store']:g} | pairs, gaps, ingest (not the run record) |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=263)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3, help="full collections per backend")
    parser.add_argument("--updates", type=int, default=3, help="hourly updates after each")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=BATCH_CANDLES, help="candles per ingest")
    parser.add_argument("--backends", default="duckdb,postgresql")
    args = parser.parse_args()
    server = StandIn(args.pairs, args.days)
    config = ExchangeConfig(base_url=server.url, rate_limit=False, concurrency=args.concurrency)
    table = [
        "| backend | what | median s (min) | target s | notes |",
        "|---|---|---|---|---|",
    ]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for backend in args.backends.split(","):
                fulls: list[IngestRun] = []
                updates: list[IngestRun] = []
                for _ in range(args.repeats):
                    with empty_store(backend, Path(tmp)) as url:
                        full, runs = one_round(server, config, url, args.updates, args.batch)
                    fulls.append(full)
                    updates += runs
                    print(f"{backend}: full {full.duration_seconds:.1f} s", file=sys.stderr)
                table += rows_for(backend, fulls, updates)
    finally:
        server.close()
    print(
        f"collection of {args.pairs} pairs x {args.days} days hourly, concurrency "
        f"{args.concurrency}, ingest batches of {args.batch:,} candles, {args.repeats} full "
        f"runs and {args.repeats * args.updates} updates per backend\n"
    )
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
