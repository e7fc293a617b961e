"""Batch backtests: one strategy over many pairs (the seed's ``/backtest/batch``).

:func:`plan_batch` resolves the pairs (a list of ids and symbols, or ``"all"``, optionally
only those quoted in one asset) against one listing of the store and enforces the size
limit. :func:`run_batch` then answers it with as little work as it can:

* the data versions of every pair in one query, and the cache asked for every pair in one
  round trip (``get_many``), keyed like a single run but with ``kind="pair"``;
* the candles of the pairs the cache did not have in **one** store read;
* the engine's batch path over those pairs, in one call, or in chunks of ``chunk_pairs``
  when a caller wants progress (``on_pair`` is called as each pair finishes);
* a pair that cannot run (unknown, no candles in range, an engine failure) is reported in
  ``errors`` and the others go on.

The answer keeps the seed's shape (:meth:`BatchReport.to_dict`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from coinbt.cache import CacheKey, ResultCache
from coinbt.domain.bars import BarsBatch
from coinbt.domain.market import Pair
from coinbt.domain.results import BacktestResult
from coinbt.errors import CoinbtError, InputError, NotFoundError
from coinbt.services.jobs import BatchJob, JobRegistry
from coinbt.services.runs import RunSpec, pair_key, run_engine
from coinbt.store.base import BatchRead, MarketStore

logger = logging.getLogger(__name__)

OnPair = Callable[[dict[str, Any]], object]
"""Called with each pair's entry (a result or an error) as soon as it is known."""

STREAM_CHUNK_PAIRS = 16
"""Pairs per engine call when progress is streamed: small enough for steady events, large
enough that the batch path still pays off."""


@dataclass(frozen=True)
class BatchPlan:
    """The pairs a batch covers, in request order, and the requested keys that named none."""

    spec: RunSpec
    pairs: tuple[Pair, ...]
    unknown: dict[str, dict[str, Any]] = field(default_factory=dict)
    use_parallel: bool = True
    lookup_seconds: float = 0.0
    """Time spent listing the pairs: part of the batch's fetch and execution time."""

    @property
    def size(self) -> int:
        """Pairs asked for, known or not."""
        return len(self.pairs) + len(self.unknown)


def plan_batch(
    store: MarketStore,
    spec: RunSpec,
    crypto_ids: Sequence[int | str] | Literal["all"],
    *,
    quote: str | None = None,
    use_parallel: bool = True,
    max_pairs: int = 500,
) -> BatchPlan:
    """Resolve the pairs of a batch; :class:`InputError` (field ``crypto_ids``) when there
    are none or more than ``max_pairs``."""
    if crypto_ids != "all" and len(crypto_ids) > max_pairs:
        raise _too_many(len(crypto_ids), max_pairs)
    began = time.perf_counter()
    universe = store.pairs(quote=quote)
    lookup = time.perf_counter() - began
    if crypto_ids == "all":
        # The whole universe means the pairs that have candles at this interval.
        pairs = tuple(p for p in universe if any(s.interval is spec.interval for s in p.series))
        unknown: dict[str, dict[str, Any]] = {}
    else:
        pairs, unknown = _resolve(universe, crypto_ids)
    if len(pairs) + len(unknown) > max_pairs:
        raise _too_many(len(pairs) + len(unknown), max_pairs)
    if not pairs and not unknown:
        where = f" quoted in {quote.upper()}" if quote else ""
        raise InputError(
            f"the batch covers no pairs{where}",
            hint='name pairs in crypto_ids, or use "all" with a quote that has pairs',
            field="crypto_ids",
        )
    return BatchPlan(spec, pairs, unknown, use_parallel, lookup)


@dataclass(frozen=True)
class BatchReport:
    """What a batch produced: entries per pair, errors per pair, and its timings."""

    plan: BatchPlan
    results: dict[int, dict[str, Any]]
    errors: dict[str, dict[str, Any]]
    execution_time: float
    fetch_time: float
    parallel: bool

    def summary(self) -> dict[str, Any]:
        """The seed's summary: counts, timings, average return, best and worst pair."""
        ranked = sorted(self.results.values(), key=lambda r: r["metrics"]["total_return_pct"])
        returns = [r["metrics"]["total_return_pct"] for r in ranked]
        return {
            "total_cryptocurrencies": self.plan.size,
            "successful_backtests": len(self.results),
            "failed_backtests": len(self.errors),
            "execution_time_seconds": round(self.execution_time, 6),
            "fetch_time_seconds": round(self.fetch_time, 6),
            "parallel_execution": self.parallel,
            "average_return": sum(returns) / len(returns) if returns else None,
            "best_performing": _standing(ranked[-1]) if ranked else None,
            "worst_performing": _standing(ranked[0]) if ranked else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """``summary``, the run's ``strategy`` and options, ``results`` keyed by crypto id
        (in request order) and ``errors`` keyed by crypto id or requested key (``None``
        when every pair ran)."""
        order = [p.id for p in self.plan.pairs if p.id in self.results]
        return {
            "summary": self.summary(),
            "strategy": self.plan.spec.to_dict(),
            "results": {str(cid): self.results[cid] for cid in order},
            "errors": self.errors or None,
        }


def run_batch(
    store: MarketStore,
    cache: ResultCache,
    plan: BatchPlan,
    *,
    chunk_pairs: int | None = None,
    on_pair: OnPair | None = None,
) -> BatchReport:
    """Backtest every pair of ``plan`` (see the module docs for how)."""
    return _Batch(store, cache, plan, on_pair).run(chunk_pairs)


def start_batch_job(
    jobs: JobRegistry, store: MarketStore, cache: ResultCache, plan: BatchPlan
) -> BatchJob:
    """Run ``plan`` in the background, streaming a ``started`` event, one ``pair`` event per
    pair and a final ``summary`` event holding the whole :meth:`BatchReport.to_dict`."""

    def work(job: BatchJob) -> None:
        job.emit("started", {"batch_id": job.id, "total_cryptocurrencies": plan.size})
        report = run_batch(
            store,
            cache,
            plan,
            chunk_pairs=STREAM_CHUNK_PAIRS,
            on_pair=partial(job.emit, "pair"),
        )
        job.emit("summary", {"batch_id": job.id, **report.to_dict()})

    return jobs.start(work)


class _Batch:
    """One execution of a plan: collects entries, errors and the time spent reading."""

    def __init__(
        self, store: MarketStore, cache: ResultCache, plan: BatchPlan, on_pair: OnPair | None
    ) -> None:
        self.store, self.cache, self.plan, self.on_pair = store, cache, plan, on_pair
        self.spec = plan.spec
        self.results: dict[int, dict[str, Any]] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        self.fetch = plan.lookup_seconds
        self.computed = 0

    def run(self, chunk_pairs: int | None) -> BatchReport:
        began = time.perf_counter()
        for key, error in self.plan.unknown.items():
            self._fail(key, error)
        keys = self._keys()
        misses = []
        for pair in self._from_cache(keys):
            if _covers(pair, self.spec):
                misses.append(pair)
            else:  # its stored series end before the range or start after it: no read
                self._fail(str(pair.id), _no_candles(pair, self._no_candles_reason()))
        if misses:
            got = self._read([p.id for p in misses])
            by_symbol = {p.symbol: p for p in misses}
            for symbol, reason in got.missing.items():
                self._fail(str(by_symbol[symbol].id), _no_candles(by_symbol[symbol], reason))
            if got.batch is not None:
                size = chunk_pairs or len(got.crypto_ids)
                self._compute(
                    got.batch, got.crypto_ids, keys, size if self.plan.use_parallel else 1
                )
        elapsed = time.perf_counter() - began + self.plan.lookup_seconds
        parallel = self.plan.use_parallel and self.computed > 1
        return BatchReport(self.plan, self.results, self.errors, elapsed, self.fetch, parallel)

    def _no_candles_reason(self) -> str:
        return f"no {self.spec.interval.value} candles in the requested range"

    def _keys(self) -> dict[int, CacheKey]:
        ids = [p.id for p in self.plan.pairs]
        began = time.perf_counter()
        versions = self.store.data_versions(ids, self.spec.interval) if ids else {}
        self.fetch += time.perf_counter() - began
        return {
            p.id: self.spec.cache_key(p.id, versions.get(p.id, 0), kind="pair")
            for p in self.plan.pairs
        }

    def _from_cache(self, keys: dict[int, CacheKey]) -> list[Pair]:
        """Take the cached pairs; the pairs still to compute."""
        blobs = self.cache.get_many(list(keys.values())) if keys else []
        misses: list[Pair] = []
        for pair, blob in zip(self.plan.pairs, blobs, strict=True):
            entry = _decode(blob)
            if entry is None:
                misses.append(pair)
            else:
                self._done(pair.id, {"crypto_id": pair.id, **entry, "cached": True})
        return misses

    def _read(self, ids: list[int]) -> BatchRead:
        began = time.perf_counter()
        try:
            s = self.spec
            return self.store.read_batch(ids, s.interval, s.start, s.end)
        finally:
            self.fetch += time.perf_counter() - began

    def _compute(
        self, batch: BarsBatch, ids: tuple[int, ...], keys: dict[int, CacheKey], size: int
    ) -> None:
        for lo in range(0, len(ids), size):
            part = range(lo, min(lo + size, len(ids)))
            sub = batch if len(part) == len(ids) else _sub_batch(batch, part)
            fresh: list[tuple[CacheKey, bytes]] = []
            for cid, outcome in zip([ids[i] for i in part], self._engine(sub), strict=True):
                if isinstance(outcome, BacktestResult):
                    entry = _entry(outcome)
                    fresh.append((keys[cid], json.dumps(entry, separators=(",", ":")).encode()))
                    self._done(cid, {"crypto_id": cid, **entry, "cached": False})
                else:
                    self._fail(str(cid), {"crypto_id": cid, **outcome})
            self.computed += len(part)
            self.cache.set_many(fresh)

    def _engine(self, part: BarsBatch) -> list[BacktestResult | dict[str, Any]]:
        """Results of every pair of ``part``; when the batch call fails, each pair alone,
        so one bad pair costs only its own result."""
        try:
            return list(run_engine(part, self.spec).results)
        except Exception as exc:
            if len(part) == 1:
                return [_failure(part.symbols[0], exc)]
        return [self._engine(_sub_batch(part, range(i, i + 1)))[0] for i in range(len(part))]

    def _done(self, cid: int, entry: dict[str, Any]) -> None:
        self.results[cid] = entry
        if self.on_pair is not None:
            self.on_pair({"ok": True, **entry})

    def _fail(self, key: str, error: dict[str, Any]) -> None:
        self.errors[key] = error
        if self.on_pair is not None:
            self.on_pair({"ok": False, **error})


def _resolve(
    universe: list[Pair], wanted: Sequence[int | str]
) -> tuple[tuple[Pair, ...], dict[str, dict[str, Any]]]:
    by_key: dict[int | str, Pair] = {p.id: p for p in universe}
    by_key.update({p.symbol: p for p in universe})
    pairs: dict[int, Pair] = {}
    unknown: dict[str, dict[str, Any]] = {}
    for raw in wanted:
        try:
            found = by_key.get(pair_key(raw))
        except NotFoundError:
            found = None
        if found is None:
            error = NotFoundError(f"unknown pair {raw!r}", hint="check crypto_ids and quote")
            unknown[str(raw)] = {"crypto_id": None, "symbol": None, **error.to_dict()}
        else:
            pairs.setdefault(found.id, found)
    return tuple(pairs.values()), unknown


def _covers(pair: Pair, spec: RunSpec) -> bool:
    """Whether the bounds of the pair's series of the interval overlap the range."""
    lo = spec.start if spec.start is not None else -(2**63)
    hi = spec.end if spec.end is not None else 2**63
    return any(
        s.interval is spec.interval and s.first_time <= hi and s.last_time >= lo
        for s in pair.series
    )


def _entry(result: BacktestResult) -> dict[str, Any]:
    facts = result.assumptions
    return {
        "symbol": result.symbol,
        "metrics": dict(result.metrics),
        "start": facts["start"],
        "end": facts["end"],
        "bars": facts["bars"],
    }


def _decode(blob: bytes | None) -> dict[str, Any] | None:
    if blob is None:
        return None
    try:
        entry = json.loads(blob)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and "metrics" in entry else None


def _standing(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "crypto_id": entry["crypto_id"],
        "symbol": entry["symbol"],
        "return": entry["metrics"]["total_return_pct"],
    }


def _sub_batch(batch: BarsBatch, rows: range) -> BarsBatch:
    return BarsBatch.from_bars([batch.pair(i) for i in rows])


def _failure(symbol: str, exc: Exception) -> dict[str, Any]:
    if isinstance(exc, CoinbtError):
        return {"symbol": symbol, **exc.to_dict()}
    logger.exception("the engine failed on %s", symbol, exc_info=exc)
    return {"symbol": symbol, "code": "engine", "message": "the engine failed on this pair"}


def _no_candles(pair: Pair, reason: str) -> dict[str, Any]:
    return {
        "crypto_id": pair.id,
        "symbol": pair.symbol,
        "code": "invalid_range",
        "message": f"{pair.symbol}: {reason}",
        "hint": "widen start_date/end_date, pick another interval, or import its candles",
    }


def _too_many(count: int, limit: int) -> InputError:
    return InputError(
        f"the batch covers {count} pairs, more than the limit of {limit}",
        hint="split it into smaller batches, or raise COINBT_MAX_BATCH_PAIRS on the server",
        field="crypto_ids",
    )
