"""One collection run, step by step: what :func:`coinbt.services.collect.collect` runs
under the collection lock.

:class:`CollectionRun` registers the universe, plans each series
(:mod:`coinbt.collector.plan`), fetches many pairs at once through the exchange client while
:class:`~coinbt.services.collect_batch.Batcher` writes the pages in large ingest
transactions, records the holes the exchange skipped as known gaps, and finally records the
run itself, including when it fails or is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from coinbt.collector.exchange_types import ExchangeConfig, Market, exchange_client_class
from coinbt.collector.plan import (
    FetchRange,
    confirmed_gaps,
    continuity,
    ends_short,
    expected_candles,
    has_holes,
    plan_ranges,
    stored_series,
)
from coinbt.domain.interval import Interval
from coinbt.domain.market import IngestRun, Pair, PairSpec
from coinbt.errors import CoinbtError, ExchangeBannedError, ExchangeError, InputError, NotFoundError
from coinbt.services.collect_batch import Batcher, Tally
from coinbt.store.base import MarketStore

if TYPE_CHECKING:
    from coinbt.collector.exchange import ExchangeClient

logger = logging.getLogger("coinbt.services.collect")
T = TypeVar("T")

BATCH_SECONDS = 10.0
"""A batch is also written once its oldest page has waited this long: on a slow or
rate-limited exchange, commits keep coming."""
OUTAGE_REASON = "exchange outage: the exchange serves no candles here"


@dataclass(frozen=True)
class PairProgress:
    """One step of a run, for progress bars: a series ``started``, got a ``page``, is
    ``done`` or ``failed`` (``message`` says why); ``done``/``total`` count series."""

    symbol: str
    interval: str
    state: str
    candles: int
    expected: int | None
    done: int
    total: int
    message: str = ""


Progress = Callable[[PairProgress], None]
"""Called at every step; an exception raised by it stops the run (nothing committed is lost)."""


@dataclass
class Work:
    """One series to fetch and how far it got."""

    symbol: str
    interval: Interval
    ranges: list[FetchRange]
    candles: int = 0
    first_ms: int | None = None
    skipped: bool = False  # the exchange skipped open times: check for gaps afterwards
    error: str | None = None


class CollectionRun:
    """One collection run: its settings, its counters and its steps."""

    def __init__(
        self,
        store: MarketStore,
        config: ExchangeConfig,
        mode: str,
        progress: Progress | None,
        now_ms: int | None,
        batch_candles: int,
    ) -> None:
        self.store, self.config, self.mode = store, config, mode
        self.progress, self.now_ms = progress, now_ms
        self.tally = Tally()
        self.batcher = Batcher(self._ingest_batch, batch_candles, BATCH_SECONDS)
        self.work: list[Work] = []
        self.pairs = 0
        self.done = 0
        self.started = _wall_ms()
        self.clock = time.perf_counter()
        self.record: IngestRun | None = None  # once saved (or, failing that, built)

    async def execute(
        self, symbols: list[str] | None, quote: str, ivls: list[Interval]
    ) -> IngestRun:
        """Every step, then the record; a failure is recorded and raised."""
        fixed = self.now_ms
        clock = None if fixed is None else (lambda: fixed)
        try:
            async with exchange_client_class()(self.config, clock=clock) as client:
                markets, stored = await self._universe(client, quote, symbols)
                await self._plan(markets, stored, ivls)
                await self._fetch_all(client)
            await self._record_gaps()
        except BaseException as exc:  # banned, killed, cancelled, or the store failed
            if isinstance(exc, InputError | NotFoundError) and not self.work:
                raise  # bad arguments (an unknown symbol): nothing ran, nothing to record
            if isinstance(exc, ExchangeBannedError):
                await self._keep_fetched()  # valid pages already fetched are kept
            else:
                await self.batcher.settle()  # a batch being committed still counts
            self._record("failed", exc)
            raise
        return self._record("partial" if self.tally.errors else "ok")

    # -- the universe and the plan --------------------------------------------------------

    async def _universe(
        self, client: ExchangeClient, quote: str, symbols: list[str] | None
    ) -> tuple[list[Market], dict[str, Pair]]:
        markets = await client.markets(quote, symbols)
        stored = {p.symbol: p for p in await self._store(self.store.pairs)}
        exchange = self.config.exchange_id
        specs = [_spec(m, exchange) for m in markets]
        changed = [s for s in specs if _differs(stored.get(s.symbol), s)]
        if symbols is None:
            changed += self._retired(quote, markets, stored)
        if changed:
            await self._store(self.store.register_pairs, changed)
        self.pairs = len(markets)
        return markets, stored

    def _retired(
        self, quote: str, markets: list[Market], stored: dict[str, Pair]
    ) -> list[PairSpec]:
        """Stored active pairs of this exchange and quote that it no longer trades (listed
        as inactive, or not listed at all): marked inactive."""
        trading = {m.symbol for m in markets}
        specs = []
        for p in stored.values():
            mine = p.quote == quote and p.exchange == self.config.exchange_id
            if mine and p.active and p.symbol not in trading:
                specs.append(PairSpec(p.symbol, p.base, p.quote, p.exchange, active=False))
        self.tally.inactive = [s.symbol for s in specs]
        return specs

    async def _plan(
        self, markets: list[Market], stored: dict[str, Pair], ivls: list[Interval]
    ) -> None:
        for ivl in ivls:
            for m in markets:
                pair = stored.get(m.symbol)
                series = stored_series(pair.series, ivl) if pair else None
                holes = self.mode == "update" and has_holes(series)
                gaps = await self._store(self.store.gaps, m.symbol, ivl) if holes else []
                ranges = plan_ranges(self.mode, ivl, series, gaps)
                self.tally.gaps_refetched += sum(r.reason == "gap" for r in ranges)
                self.work.append(Work(m.symbol, ivl, ranges))

    # -- fetching -------------------------------------------------------------------------

    async def _fetch_all(self, client: ExchangeClient) -> None:
        todo = deque(self.work)

        async def worker() -> None:
            while todo:
                await self._fetch_one(client, todo.popleft())

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.config.concurrency, len(todo))):
                    group.create_task(worker())
        except BaseExceptionGroup as failed:  # the first failure says why the run stopped
            raise failed.exceptions[0] from None
        await self.batcher.flush()

    async def _fetch_one(self, client: ExchangeClient, work: Work) -> None:
        self._event(work, "started")
        try:
            for r in work.ranges:
                await self._fetch_range(client, work, r)
        except ExchangeBannedError:
            raise
        except ExchangeError as exc:  # retries used up, or refused: this pair only
            work.error = exc.message
            self.tally.errors.append(
                {"symbol": work.symbol, "interval": work.interval.value, "error": exc.message}
            )
            logger.warning("collect %s %s failed: %s", work.symbol, work.interval.value, exc)
        self.done += 1
        self._event(work, "failed" if work.error else "done", work.error or "")

    async def _fetch_range(self, client: ExchangeClient, work: Work, r: FetchRange) -> None:
        due = None if r.reason == "history" else r.start_ms
        async for bars in client.fetch_range(work.symbol, work.interval, r.start_ms, r.end_ms):
            skipped, due = continuity(bars.time, work.interval, due)
            work.skipped |= skipped
            if work.first_ms is None:
                work.first_ms = int(bars.time[0])
            work.candles += len(bars)
            self.tally.pages += 1
            await self.batcher.add(bars)
            self._event(work, "page")
        work.skipped |= ends_short(r, due)

    def _event(self, work: Work, state: str, message: str = "") -> None:
        if self.progress is None:
            return
        now = self.now_ms if self.now_ms is not None else _wall_ms()
        expected = expected_candles(work.ranges, work.interval, now, work.first_ms)
        self.progress(
            PairProgress(
                work.symbol,
                work.interval.value,
                state,
                work.candles,
                expected,
                self.done,
                len(self.work),
                message,
            )
        )

    async def _ingest_batch(self, batch: list[Any]) -> None:
        began = time.perf_counter()
        reports = await asyncio.to_thread(
            self.store.ingest, batch, exchange=self.config.exchange_id
        )
        self.tally.ingested(reports, time.perf_counter() - began)

    async def _keep_fetched(self) -> None:
        """Store the valid pages already fetched when the run must stop (best effort)."""
        try:
            await self.batcher.flush()
        except CoinbtError as exc:
            logger.error("collect: could not store the pages fetched before the stop: %s", exc)

    # -- gaps and the record ----------------------------------------------------------------

    async def _record_gaps(self) -> None:
        """Record as known the holes the exchange skipped that the store still has."""
        for w in self.work:
            if w.error is not None or not w.skipped:
                continue
            gaps = await self._store(self.store.gaps, w.symbol, w.interval)
            for g in confirmed_gaps(gaps, w.ranges):
                await self._store(
                    self.store.record_gap, w.symbol, w.interval, g.start, g.end, OUTAGE_REASON
                )
                self.tally.gap_found(w.symbol, g)

    def _record(self, status: str, failure: BaseException | None = None) -> IngestRun:
        seconds = time.perf_counter() - self.clock
        detail = self.tally.detail(seconds) | {
            "exchange": self.config.exchange_id,
            "intervals": sorted({w.interval.value for w in self.work}),
        }
        if failure is not None:
            detail["failure"] = _describe(failure)
        t = self.tally
        run = IngestRun(
            self.mode, self.started, self.started + round(seconds * 1000), status, self.pairs,
            t.added, t.revised, len(t.known_gaps), len(t.errors), detail,
        )  # fmt: skip
        logger.log(
            logging.ERROR if failure else logging.INFO,
            "collect %s %s: %d pairs, %d candles added, %d revised, %d gaps, %d errors in %.1f s",
            self.mode, status, run.pairs, run.candles_added, run.candles_revised, run.gaps,
            run.errors, seconds,
        )  # fmt: skip
        try:
            self.record = replace(run, id=self.store.save_ingest_run(run))
        except CoinbtError as exc:
            if failure is None:
                raise
            logger.error("collect: could not record the failed run: %s", exc)
            self.record = run
        return self.record

    async def _store(self, call: Callable[..., T], *args: Any) -> T:
        """A blocking store call in a worker thread, timed."""
        began = time.perf_counter()
        try:
            return await asyncio.to_thread(call, *args)
        finally:
            self.tally.store_seconds += time.perf_counter() - began


def _spec(market: Market, exchange: str) -> PairSpec:
    return PairSpec(market.symbol, market.base, market.quote, exchange, market.active)


def _differs(pair: Pair | None, spec: PairSpec) -> bool:
    if pair is None:
        return True
    known = (pair.base, pair.quote, pair.exchange, pair.active)
    return known != (spec.base, spec.quote, spec.exchange, spec.active)


def _describe(failure: BaseException) -> dict[str, str]:
    if isinstance(failure, CoinbtError):
        return {"code": failure.code, "message": failure.message, "hint": failure.hint}
    return {"code": type(failure).__name__, "message": str(failure) or "interrupted"}


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


__all__ = ["BATCH_SECONDS", "OUTAGE_REASON", "CollectionRun", "PairProgress", "Progress", "Work"]
