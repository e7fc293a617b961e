"""The market store, written once over any :class:`~coinbt.store.driver.Driver`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from coinbt.domain.bars import Bars, BarsBatch
from coinbt.domain.interval import Interval
from coinbt.domain.market import (
    DashboardRow,
    Gap,
    IngestReport,
    Pair,
    PairSpec,
    SeriesInfo,
    StoredRun,
    StoreStats,
)
from coinbt.errors import DataFormatError, DataRangeError, InputError, NotFoundError
from coinbt.store import derived, migrate, rollup
from coinbt.store.base import DASHBOARD_SORTS, BatchRead, PairKey, RunRecord
from coinbt.store.candles import CANDLE_DTYPES, now_ms, read_range, write_series
from coinbt.store.driver import Driver, Session, placeholders
from coinbt.store.stats import count_gaps, list_gaps

_DASHBOARD_COLUMNS = (
    "d.crypto_id, c.symbol, current_price, change_24h_percent, high_7d, low_7d, volume_7d, "
    "high_30d, low_30d, volume_30d, all_time_high, all_time_low, total_days, last_updated"
)


class SqlStore:
    """A :class:`~coinbt.store.base.MarketStore` on a SQL database."""

    def __init__(self, driver: Driver) -> None:
        self._db = driver
        self.backend = driver.backend
        self.location = driver.location

    # -- schema -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        return [m.name for m in migrate.migrate(self._db)]

    def schema_version(self) -> int:
        return migrate.current_version(self._db)

    # -- pairs --------------------------------------------------------------------------
    def register_pairs(self, specs: Sequence[PairSpec]) -> list[Pair]:
        with self._db.write() as s:
            ids = _ensure_pairs(s, specs, update=True)
        return [self.pair(ids[spec.symbol.upper()]) for spec in specs]

    def pairs(self, *, active_only: bool = False, quote: str | None = None) -> list[Pair]:
        sql = "SELECT id, symbol, base, quote, exchange, active FROM cryptocurrencies WHERE 1 = 1"
        params: list[object] = []
        if active_only:
            sql += " AND active"
        if quote:
            sql += " AND quote = ?"
            params.append(quote.upper())
        with self._db.read() as s:
            rows = s.rows(sql + " ORDER BY id", params)
            series = derived.all_series(s, [int(r[0]) for r in rows]) if rows else {}
        return [_pair(row, series.get(int(row[0]), [])) for row in rows]

    def pair(self, key: PairKey) -> Pair:
        with self._db.read() as s:
            return _find_pair(s, key)

    # -- candles ------------------------------------------------------------------------
    def ingest(
        self, bars: Bars | Sequence[Bars], *, exchange: str = "binance"
    ) -> list[IngestReport]:
        items = [bars] if isinstance(bars, Bars) else list(bars)
        for item in items:
            check_writable(item)
        with self._db.write() as s:
            ids = _ensure_pairs(s, [PairSpec.of(b.symbol, exchange) for b in items], update=False)
            reports = [_ingest_one(s, ids[b.symbol.upper()], b) for b in items]
            touched = sorted({ids[r.symbol] for r in reports if r.changed})
            if touched:
                derived.refresh_dashboard(s, touched)
        return reports

    def read(
        self,
        key: PairKey,
        interval: Interval | str,
        start: int | None = None,
        end: int | None = None,
    ) -> Bars:
        got = self.read_batch([key], interval, start, end)
        if got.batch is None:
            symbol, reason = next(iter(got.missing.items()))
            raise DataRangeError(
                f"{symbol}: {reason}", hint="import or collect its candles, or widen the range"
            )
        return got.batch.pair(0)

    def read_batch(
        self,
        keys: Sequence[PairKey],
        interval: Interval | str,
        start: int | None = None,
        end: int | None = None,
    ) -> BatchRead:
        ivl = Interval.parse(interval)
        with self._db.read() as s:
            pairs = [_find_pair(s, k) for k in keys]
            native, rolled = _sources(pairs, ivl)
            arrays = [read_range(s, "candles", native, ivl, start, end)] if native else []
            if rolled:
                arrays.append(read_range(s, "rollups", rolled, ivl, start, end))
        return _batch(pairs, ivl, arrays)

    def data_version(self, key: PairKey, interval: Interval | str) -> int:
        pair = self.pair(key)
        return _version(pair, Interval.parse(interval))

    def data_versions(self, keys: Sequence[PairKey], interval: Interval | str) -> dict[int, int]:
        ivl = Interval.parse(interval)
        with self._db.read() as s:
            pairs = [_find_pair(s, k) for k in keys]
        return {p.id: _version(p, ivl) for p in pairs}

    def gaps(self, key: PairKey, interval: Interval | str) -> list[Gap]:
        ivl = Interval.parse(interval)
        with self._db.read() as s:
            pair = _find_pair(s, key)
            return list_gaps(s, pair.id, ivl)

    def record_gap(
        self, key: PairKey, interval: Interval | str, start: int, end: int, reason: str
    ) -> None:
        ivl = Interval.parse(interval)
        with self._db.write() as s:
            pair = _find_pair(s, key)
            s.execute(
                "INSERT INTO known_gaps VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
                "(crypto_id, interval, start_time) DO UPDATE SET end_time = excluded.end_time, "
                "reason = excluded.reason",
                (pair.id, ivl.value, start, end, reason, now_ms()),
            )

    def delete_before(self, key: PairKey, interval: Interval | str, before: int) -> int:
        ivl = Interval.parse(interval)
        with self._db.write() as s:
            pair = _find_pair(s, key)
            return _delete_before(s, pair, ivl, before)

    # -- derived --------------------------------------------------------------------------
    def refresh_rollups(self, keys: Sequence[PairKey] | None = None) -> int:
        with self._db.write() as s:
            pairs = _pairs_for(s, keys)
            for pair in pairs:
                source = derived.rollup_source(list(pair.series))
                if source is not None:
                    derived.refresh_rollups(s, pair.id, source, None)
            derived.refresh_dashboard(s, [p.id for p in pairs])
        return len(pairs)

    def refresh_dashboard(self, keys: Sequence[PairKey] | None = None) -> int:
        with self._db.write() as s:
            ids = None if keys is None else [p.id for p in _pairs_for(s, keys)]
            return derived.refresh_dashboard(s, ids)

    def dashboard(
        self,
        *,
        sort: str = "symbol",
        descending: bool = False,
        limit: int | None = None,
        quote: str | None = None,
    ) -> list[DashboardRow]:
        if sort not in DASHBOARD_SORTS:
            raise InputError(
                f"cannot sort the dashboard by {sort!r}",
                hint=f"use one of {', '.join(DASHBOARD_SORTS)}",
                field="sort",
            )
        column = "c.symbol" if sort == "symbol" else f"d.{sort}"
        sql = f"SELECT {_DASHBOARD_COLUMNS} FROM dashboard d JOIN cryptocurrencies c ON c.id = d.crypto_id"
        params: list[object] = []
        if quote:
            sql += " WHERE c.quote = ?"
            params.append(quote.upper())
        sql += f" ORDER BY {column} {'DESC' if descending else 'ASC'} NULLS LAST, c.symbol"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._db.read() as s:
            rows = s.rows(sql, params)
        return [_dashboard_row(r) for r in rows]

    # -- runs ---------------------------------------------------------------------------
    def save_run(self, run: RunRecord) -> int:
        with self._db.write() as s:
            rows = s.rows(
                "INSERT INTO backtest_runs (created_at, crypto_id, symbol, interval, strategy, "
                "spec, metrics, trades, equity_time, equity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
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

    def get_run(self, run_id: int) -> StoredRun:
        with self._db.read() as s:
            rows = s.rows(
                "SELECT id, created_at, crypto_id, symbol, interval, strategy, spec, metrics, "
                "trades, equity_time, equity FROM backtest_runs WHERE id = ?",
                (int(run_id),),
            )
        if not rows:
            raise NotFoundError(
                f"no stored backtest run {run_id}", hint="use the id a run returned", field="id"
            )
        r = rows[0]
        return StoredRun(
            int(r[0]),
            int(r[1]),
            None if r[2] is None else int(r[2]),
            r[3],
            r[4],
            r[5],
            json.loads(r[6]),
            json.loads(r[7]),
            json.loads(r[8]),
            np.frombuffer(bytes(r[9]), dtype="<i8").astype(np.int64),
            np.frombuffer(bytes(r[10]), dtype="<f8").astype(np.float64),
        )

    # -- housekeeping -------------------------------------------------------------------
    def stats(self) -> StoreStats:
        version = self.schema_version()
        with self._db.read() as s:
            pairs = int(s.rows("SELECT count(*) FROM cryptocurrencies")[0][0])
            candles = {
                str(i): int(n)
                for i, n in s.rows(
                    "SELECT interval, count(*) FROM candles GROUP BY interval ORDER BY interval"
                )
            }
            rollups = {
                str(i): int(n)
                for i, n in s.rows(
                    "SELECT interval, count(*) FROM rollups GROUP BY interval ORDER BY interval"
                )
            }
            gaps, missing = count_gaps(s)
        return StoreStats(
            self.backend,
            version,
            pairs,
            candles,
            rollups,
            self._db.size_bytes(),
            gaps,
            missing,
            self.location,
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_writable(bars: Bars) -> None:
    """Refuse candles that must not be stored, naming the rows: empty, invalid OHLCV, or
    open times not aligned to the interval (weekly candles open on Monday)."""
    if len(bars) == 0:
        raise DataFormatError(
            f"{bars.symbol}: no candles to write", hint="pass at least one candle"
        )
    bars.validate()
    starts = rollup.bucket_starts(bars.time, bars.interval)
    bad = np.flatnonzero(starts != bars.time)
    if len(bad):
        shown = ", ".join(str(int(i)) for i in bad[:5])
        raise DataFormatError(
            f"{bars.symbol}: open time not aligned to {bars.interval.value} in row(s) {shown}"
            + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""),
            hint="open times must be multiples of the interval (weeks open on Monday); nothing was written",
        )


def _ingest_one(s: Session, crypto_id: int, bars: Bars) -> IngestReport:
    written = write_series(s, crypto_id, bars)
    symbol = bars.symbol.upper()
    if written.version is None:
        return IngestReport(symbol, bars.interval, len(bars), 0, 0)
    series = derived.all_series(s, [crypto_id]).get(crypto_id, [])
    if derived.rollup_source(series) is bars.interval:
        since = written.first_changed
        if written.prior is not None and since is not None:
            since = min(since, written.prior.last_time)
        new_source = written.prior is None
        derived.refresh_rollups(s, crypto_id, bars.interval, None if new_source else since)
    return IngestReport(
        symbol,
        bars.interval,
        len(bars),
        written.inserted,
        written.revised,
        written.first_changed,
        written.last_changed,
        written.version,
    )


def _ensure_pairs(s: Session, specs: Sequence[PairSpec], *, update: bool) -> dict[str, int]:
    wanted = {spec.symbol.upper(): spec for spec in specs}
    names = list(wanted)
    found = {
        str(sym): int(cid)
        for cid, sym in s.rows(
            f"SELECT id, symbol FROM cryptocurrencies WHERE symbol IN ({placeholders(len(names))})",
            names,
        )
    }
    for symbol, spec in wanted.items():
        if symbol not in found:
            s.execute(
                "INSERT INTO cryptocurrencies (symbol, base, quote, exchange, active, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (symbol, spec.base, spec.quote, spec.exchange, spec.active, now_ms()),
            )
        elif update:
            s.execute(
                "UPDATE cryptocurrencies SET base = ?, quote = ?, exchange = ?, active = ? WHERE id = ?",
                (spec.base, spec.quote, spec.exchange, spec.active, found[symbol]),
            )
    missing = [n for n in names if n not in found]
    if missing:
        found.update(
            (str(sym), int(cid))
            for cid, sym in s.rows(
                f"SELECT id, symbol FROM cryptocurrencies WHERE symbol IN ({placeholders(len(missing))})",
                missing,
            )
        )
    return found


def _find_pair(s: Session, key: PairKey) -> Pair:
    value: int | str
    if isinstance(key, int) or (isinstance(key, str) and key.strip().isdigit()):
        where, value = "id = ?", int(key)
    else:
        where, value = "symbol = ?", str(key).strip().upper()
    rows = s.rows(
        f"SELECT id, symbol, base, quote, exchange, active FROM cryptocurrencies WHERE {where}",
        (value,),
    )
    if not rows:
        raise NotFoundError(
            f"unknown pair {key!r}",
            hint="list pairs with `coinbt dashboard` or GET /api/crypto/cryptocurrencies",
            field="crypto",
        )
    series = derived.all_series(s, [int(rows[0][0])])
    return _pair(rows[0], series.get(int(rows[0][0]), []))


def _pairs_for(s: Session, keys: Sequence[PairKey] | None) -> list[Pair]:
    if keys is not None:
        return [_find_pair(s, k) for k in keys]
    series = derived.all_series(s)
    rows = s.rows(
        "SELECT id, symbol, base, quote, exchange, active FROM cryptocurrencies ORDER BY id"
    )
    return [_pair(r, series.get(int(r[0]), [])) for r in rows]


def _pair(row: tuple[Any, ...], series: list[SeriesInfo]) -> Pair:
    ordered = tuple(sorted(series, key=lambda x: (x.rollup, x.interval.ms)))
    return Pair(
        int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), bool(row[5]), ordered
    )


def _serving(pair: Pair, interval: Interval) -> SeriesInfo | None:
    """The series a read of ``interval`` is served from: the pair's own, else its rollup."""
    own = [s for s in pair.series if s.interval is interval]
    return min(own, key=lambda s: s.rollup) if own else None


def _version(pair: Pair, interval: Interval) -> int:
    serving = _serving(pair, interval)
    return serving.data_version if serving else 0


def _sources(pairs: list[Pair], interval: Interval) -> tuple[list[int], list[int]]:
    native: list[int] = []
    rolled: list[int] = []
    for pair in pairs:
        serving = _serving(pair, interval)
        if serving is not None:
            (rolled if serving.rollup else native).append(pair.id)
    return sorted(set(native)), sorted(set(rolled))


def _batch(pairs: list[Pair], interval: Interval, arrays: list[dict[str, Any]]) -> BatchRead:
    merged = (
        {k: np.concatenate([a[k] for a in arrays]) for k in ("crypto_id", *CANDLE_DTYPES)}
        if arrays
        else None
    )
    items: list[Bars] = []
    ids: list[int] = []
    missing: dict[str, str] = {}
    for pair in pairs:
        rows = (
            np.flatnonzero(merged["crypto_id"] == pair.id)
            if merged is not None
            else np.empty(0, np.intp)
        )
        if len(rows) == 0:
            missing[pair.symbol] = f"no {interval.value} candles in the requested range"
            continue
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        cols = [merged[c][lo:hi] for c in CANDLE_DTYPES]  # type: ignore[index]
        items.append(Bars(pair.symbol, interval, *cols))
        ids.append(pair.id)
    batch = BarsBatch.from_bars(items) if items else None
    return BatchRead(batch, tuple(ids), missing)


def _delete_before(s: Session, pair: Pair, interval: Interval, before: int) -> int:
    from coinbt.store.candles import next_version, save_series_row

    n = int(
        s.rows(
            "SELECT count(*) FROM candles WHERE crypto_id = ? AND interval = ? AND open_time < ?",
            (pair.id, interval.value, before),
        )[0][0]
    )
    if n == 0:
        return 0
    s.execute(
        "DELETE FROM candles WHERE crypto_id = ? AND interval = ? AND open_time < ?",
        (pair.id, interval.value, before),
    )
    first, last, count = s.rows(
        "SELECT min(open_time), max(open_time), count(*) FROM candles WHERE crypto_id = ? AND interval = ?",
        (pair.id, interval.value),
    )[0]
    prior = _serving(pair, interval)
    if count:
        save_series_row(
            s,
            pair.id,
            interval,
            False,
            (int(first), int(last), int(count)),
            next_version(prior.data_version if prior else None),
        )
    else:
        s.execute(
            "DELETE FROM series WHERE crypto_id = ? AND interval = ? AND rollup = FALSE",
            (pair.id, interval.value),
        )
    derived.refresh_dashboard(s, [pair.id])
    return n


def _dashboard_row(r: tuple[Any, ...]) -> DashboardRow:
    high_7d, low_7d, volume_7d, high_30d, low_30d, volume_30d, ath, atl = (
        float(x) for x in r[4:12]
    )
    return DashboardRow(
        crypto_id=int(r[0]),
        symbol=str(r[1]),
        current_price=float(r[2]),
        change_24h_percent=None if r[3] is None else float(r[3]),
        high_7d=high_7d,
        low_7d=low_7d,
        volume_7d=volume_7d,
        high_30d=high_30d,
        low_30d=low_30d,
        volume_30d=volume_30d,
        all_time_high=ath,
        all_time_low=atl,
        total_days=int(r[12]),
        last_updated=int(r[13]),
    )
