"""The market store, written once over any :class:`~coinbt.store.driver.Driver`."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import numpy as np

from coinbt.domain.bars import Bars, BarsBatch
from coinbt.domain.interval import Interval
from coinbt.domain.market import (
    DashboardRow,
    Gap,
    IngestReport,
    IngestRun,
    Pair,
    PairSpec,
    StoredRun,
    StoreStats,
)
from coinbt.errors import DataFormatError, DataRangeError, InputError
from coinbt.store import dashboard, migrate, rollup, rollups, runs
from coinbt.store.base import DASHBOARD_SORTS, BatchRead, PairKey, RunRecord
from coinbt.store.candles import (
    CANDLE_DTYPES,
    Written,
    all_series,
    now_ms,
    pair_index,
    read_range,
    write_group,
)
from coinbt.store.driver import Driver, Session
from coinbt.store.pairs import (
    PairIds,
    ensure_pairs,
    find_pair,
    find_pairs,
    list_pairs,
    serving,
    versions_of,
)
from coinbt.store.stats import count_gaps, delete_before, list_gaps
from coinbt.store.version_memo import VersionMemo, WriteMemo

_BULK_ROWS = 100_000
"""A write at least this large refreshes the planner's statistics of the candles table."""


class SqlStore:
    """A :class:`~coinbt.store.base.MarketStore` on a SQL database."""

    def __init__(self, driver: Driver) -> None:
        self._db = driver
        self.backend = driver.backend
        self.location = driver.location
        self._summary = dashboard.SummaryCache()
        self._ids = PairIds()
        self._versions = VersionMemo(driver.write_generation)
        self._pairs: WriteMemo[tuple[PairKey, ...], list[Pair]] = WriteMemo(
            driver.write_generation, list
        )

    def migrate(self) -> list[str]:
        return [m.name for m in migrate.migrate(self._db)]

    def schema_version(self) -> int:
        return migrate.current_version(self._db)

    def register_pairs(self, specs: Sequence[PairSpec]) -> list[Pair]:
        with self._db.write() as s:
            ids = ensure_pairs(s, specs, update=True)
        return [self.pair(ids[spec.symbol.upper()]) for spec in specs]

    def pairs(self, *, active_only: bool = False, quote: str | None = None) -> list[Pair]:
        with self._db.read() as s:
            return list_pairs(s, active_only=active_only, quote=quote)

    def pair(self, key: PairKey) -> Pair:
        with self._db.read() as s:
            return find_pair(s, key)

    def ingest(
        self, bars: Bars | Sequence[Bars], *, exchange: str = "binance"
    ) -> list[IngestReport]:
        items = [bars] if isinstance(bars, Bars) else list(bars)
        for item in items:
            check_writable(item)
        if not items:
            return []
        with self._db.write() as s:
            ids = ensure_pairs(s, [PairSpec.of(b.symbol, exchange) for b in items], update=False)
            s.lock_pairs(list(ids.values()))
            written = _write_all(s, [(ids[b.symbol.upper()], b) for b in items])
            touched = sorted({w.crypto_id for w in written if w.version is not None})
            if sum(w.inserted for w in written) >= _BULK_ROWS:
                s.analyze("candles")
            if touched:
                rollups.refresh(s, rollups.touches(written, all_series(s, touched)))
                dashboard.refresh_dashboard(s, touched)
        return [_report(w) for w in written]

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
        if start is not None and end is not None and start > end:
            raise DataRangeError("start is after end", hint="swap start and end", field="start")
        with self._db.read() as s:
            if rollup.is_rollup_source(ivl):
                # Only a pair's own candles serve a sub-daily interval: its id and symbol
                # are all the read needs (no lookup of its series).
                named = self._ids.named(s, keys)
                ids = sorted({cid for cid, _ in named})
                found = [read_range(s, "candles", ids, ivl, start, end)] if ids else []
                return _batch(named, ivl, found)
            pairs = self._pairs.get(tuple(keys), lambda: find_pairs(s, keys))
            native, rolled = _sources(pairs, ivl)
            arrays = [read_range(s, "candles", native, ivl, start, end)] if native else []
            if rolled:
                arrays.append(read_range(s, "rollups", rolled, ivl, start, end))
        return _batch([(p.id, p.symbol) for p in pairs], ivl, arrays)

    def data_version(self, key: PairKey, interval: Interval | str) -> int:
        found = serving(self.pair(key), Interval.parse(interval))
        return found.data_version if found else 0

    def data_versions(self, keys: Sequence[PairKey], interval: Interval | str) -> dict[int, int]:
        ivl = Interval.parse(interval)
        with self._db.read() as s:
            ids = self._ids.resolve(s, keys)
            return self._versions.get((ivl.value, tuple(ids)), lambda: versions_of(s, ids, ivl))

    def remembered_versions(
        self, keys: Sequence[PairKey], interval: Interval | str
    ) -> dict[int, int] | None:
        ids = self._ids.known(keys)
        if ids is None:
            return None
        return self._versions.peek((Interval.parse(interval).value, tuple(ids)))

    def gaps(self, key: PairKey, interval: Interval | str) -> list[Gap]:
        with self._db.read() as s:
            return list_gaps(s, find_pair(s, key).id, Interval.parse(interval))

    def record_gap(
        self, key: PairKey, interval: Interval | str, start: int, end: int, reason: str
    ) -> None:
        ivl = Interval.parse(interval)
        with self._db.write() as s:
            s.execute(
                "INSERT INTO known_gaps VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
                "(crypto_id, interval, start_time) DO UPDATE SET end_time = excluded.end_time, "
                "reason = excluded.reason",
                (find_pair(s, key).id, ivl.value, start, end, reason, now_ms()),
            )

    def delete_before(self, key: PairKey, interval: Interval | str, before: int) -> int:
        with self._db.write() as s:
            pair = find_pair(s, key)
            n = delete_before(s, pair, Interval.parse(interval), before)
            if n:
                dashboard.refresh_dashboard(s, [pair.id])
            return n

    def refresh_rollups(self, keys: Sequence[PairKey] | None = None) -> int:
        with self._db.write() as s:
            pairs = find_pairs(s, keys)
            work = []
            for pair in pairs:
                source = rollups.rollup_source(list(pair.series))
                if source is not None:
                    floor = rollups.keep_floor(list(pair.series), source)
                    work.append(rollups.Touch(pair.id, source, None, floor=floor))
            rollups.refresh(s, work)
            dashboard.refresh_dashboard(s, [p.id for p in pairs])
        return len(pairs)

    def refresh_dashboard(self, keys: Sequence[PairKey] | None = None) -> int:
        with self._db.write() as s:
            ids = None if keys is None else [p.id for p in find_pairs(s, keys)]
            return dashboard.refresh_dashboard(s, ids)

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
        with self._db.read() as s:
            return self._summary.rows(s, sort, descending, limit, quote)

    def save_run(self, run: RunRecord) -> int:
        with self._db.write(records_only=True) as s:
            return runs.save(s, run)

    def get_run(self, run_id: int) -> StoredRun:
        with self._db.read() as s:
            return runs.load(s, run_id)

    def save_ingest_run(self, run: IngestRun) -> int:
        with self._db.write(records_only=True) as s:
            return runs.save_ingest(s, run)

    def ingest_runs(self, *, limit: int = 20, kind: str | None = None) -> list[IngestRun]:
        with self._db.read() as s:
            return runs.recent_ingests(s, limit, kind)

    def exclusive(self, name: str, *, wait: bool = False) -> AbstractContextManager[bool]:
        return self._db.lock(name, wait=wait)

    def stats(self) -> StoreStats:
        version = self.schema_version()
        with self._db.read() as s:
            pairs = int(s.rows("SELECT count(*) FROM cryptocurrencies")[0][0])
            candles = _counts(s, "candles")
            rolled = _counts(s, "rollups")
            gaps, missing = count_gaps(s)
        size = self._db.size_bytes()
        return StoreStats(
            self.backend, version, pairs, candles, rolled, size, gaps, missing, self.location
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
        raise DataFormatError(f"{bars.symbol}: no candles to write", hint="pass at least one")
    bars.validate()
    bad = np.flatnonzero(rollup.bucket_starts(bars.time, bars.interval) != bars.time)
    if len(bad):
        shown = ", ".join(str(int(i)) for i in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DataFormatError(
            f"{bars.symbol}: open time not aligned to {bars.interval.value} in row(s) {shown}"
            f"{more}",
            hint="open times are multiples of the interval (weeks open on Monday); "
            "nothing was written",
        )


def _write_all(s: Session, items: list[tuple[int, Bars]]) -> list[Written]:
    # A pair may come twice in one call (monthly archive files): one round per repeat.
    rounds: list[dict[tuple[int, Interval], tuple[int, Bars]]] = []
    for cid, bars in items:
        key = (cid, bars.interval)
        free = next((r for r in rounds if key not in r), None)
        if free is None:
            rounds.append(free := {})
        free[key] = (cid, bars)
    written: list[Written] = []
    for group in rounds:
        intervals = sorted({ivl for _, ivl in group}, key=lambda i: i.ms)
        for ivl in intervals:
            written += write_group(s, ivl, [v for k, v in group.items() if k[1] is ivl])
    order = {id(bars): i for i, (_, bars) in enumerate(items)}
    return sorted(written, key=lambda w: order[id(w.bars)])


def _report(w: Written) -> IngestReport:
    return IngestReport(
        w.bars.symbol.upper(),
        w.bars.interval,
        len(w.bars),
        w.inserted,
        w.revised,
        w.first_changed,
        w.last_changed,
        w.version,
    )


def _counts(s: Session, table: str) -> dict[str, int]:
    rows = s.rows(f"SELECT interval, count(*) FROM {table} GROUP BY interval ORDER BY interval")
    return {str(i): int(n) for i, n in rows}


def _sources(pairs: list[Pair], interval: Interval) -> tuple[list[int], list[int]]:
    native: list[int] = []
    rolled: list[int] = []
    for pair in pairs:
        found = serving(pair, interval)
        if found is not None:
            (rolled if found.rollup else native).append(pair.id)
    return sorted(set(native)), sorted(set(rolled))


def _batch(
    named: list[tuple[int, str]], interval: Interval, arrays: list[dict[str, np.ndarray]]
) -> BatchRead:
    """The pairs ``named`` (id, symbol) in order, from the query results ``arrays``."""
    indexed = [(part, pair_index(part)) for part in arrays]
    direct = _whole_part(named, indexed, interval)
    if direct is not None:
        return direct
    items: list[Bars] = []
    ids: list[int] = []
    missing: dict[str, str] = {}
    for cid, symbol in named:
        found = next(((part, idx[cid]) for part, idx in indexed if cid in idx), None)
        if found is None:
            missing[symbol] = f"no {interval.value} candles in the requested range"
            continue
        part, rows = found
        items.append(Bars(symbol, interval, *(part[c][rows] for c in CANDLE_DTYPES)))
        ids.append(cid)
    return BatchRead(BarsBatch.from_bars(items) if items else None, tuple(ids), missing)


def _whole_part(
    named: list[tuple[int, str]],
    indexed: list[tuple[dict[str, np.ndarray], dict[int, slice]]],
    interval: Interval,
) -> BatchRead | None:
    """The common case without a copy: one query holding every pair, asked in id order."""
    ids = [cid for cid, _ in named]
    if len(indexed) != 1 or ids != sorted(set(ids)) or not indexed[0][1]:
        return None
    part, index = indexed[0]
    present = [(cid, symbol) for cid, symbol in named if cid in index]
    offsets = np.array([0, *(index[cid].stop for cid, _ in present)], dtype=np.int64)
    batch = BarsBatch(
        tuple(symbol for _, symbol in present),
        interval,
        offsets,
        *(part[c] for c in CANDLE_DTYPES),
    )
    missing = {
        symbol: f"no {interval.value} candles in the requested range"
        for cid, symbol in named
        if cid not in index
    }
    return BatchRead(batch, tuple(cid for cid, _ in present), missing)
