"""Collecting candles from an exchange into the store: one run of ``coinbt collect``, of the
schedule or of the API's collect route.

:func:`collect` (or :func:`collect_async` inside an event loop) runs an **update** (each
pair from its last stored candle, plus the holes inside its stored history) or a **full**
collection (each pair from its first candle on the exchange) of the active spot pairs of a
quote asset, or of the given symbols:

1. Under the store's ``collect`` lock, so two runs never overlap, in this process or another:
   a second run is refused with :class:`~coinbt.errors.ConflictError` (or waits for it).
2. The pairs are registered (new ones added, pairs the exchange no longer trades marked
   inactive) and planned (:mod:`coinbt.collector.plan`).
3. Many pairs are fetched at once, within the client's concurrency and rate limit; pages go
   to the store in batches of about :data:`BATCH_CANDLES` candles across pairs, each batch
   one :meth:`~coinbt.store.base.MarketStore.ingest` transaction (candles, rollups, dashboard
   rows and data versions together), while the next pages are being fetched. A run killed
   half-way keeps every batch already committed and the next update resumes from the store.
4. A pair that keeps failing (after the client's retries) is counted in ``errors`` and the
   others go on; a ban (HTTP 418) stops the whole run at once.
5. Holes the exchange was asked for and still lacks are recorded as known gaps (outages).
6. The run is recorded (:meth:`~coinbt.store.base.MarketStore.save_ingest_run`): ``status``
   ``ok``, ``partial`` (some pairs failed) or ``failed`` (stopped), with the details.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import ExitStack, asynccontextmanager

from coinbt.collector.exchange_types import ExchangeConfig, exchange_client_class
from coinbt.collector.plan import check_mode
from coinbt.domain.interval import Interval
from coinbt.domain.market import IngestRun
from coinbt.errors import ConflictError, InputError
from coinbt.services.collect_run import (
    BATCH_SECONDS,
    OUTAGE_REASON,
    CollectionRun,
    PairProgress,
    Progress,
)
from coinbt.store.base import MarketStore

BATCH_CANDLES = 250_000
"""Candles per ingest transaction (about 12 MB): big enough that the store's fixed cost per
call (rollups, dashboard rows, commit) is amortised over many pages, small enough that a
killed run loses little and memory stays low."""
LOCK_NAME = "collect"
"""The store lock every collection holds (:meth:`~coinbt.store.base.MarketStore.exclusive`)."""

Started = Callable[[], None]
"""Called once the run holds the collection lock, before it asks the exchange anything."""
Recorded = Callable[[IngestRun], None]
"""Called with the run's saved record (ok, partial or failed) before the run returns or
raises."""


def collect(
    store: MarketStore,
    exchange_config: ExchangeConfig,
    *,
    mode: str = "update",
    symbols: Sequence[str] | None = None,
    quote: str = "USDT",
    intervals: Sequence[str | Interval] = ("1h",),
    progress: Progress | None = None,
    now_ms: int | None = None,
    wait: bool = False,
    batch_candles: int = BATCH_CANDLES,
    on_start: Started | None = None,
    on_record: Recorded | None = None,
) -> IngestRun:
    """Run one collection now and return its record (with its id); blocks until done.

    ``symbols`` (``BTCUSDT`` or ``BTC/USDT``) replaces the universe of active ``quote``
    pairs; ``now_ms`` fixes the clock that decides which candle is still open (default: the
    exchange's). ``wait`` waits for a running collection instead of raising
    :class:`ConflictError`. Raises :class:`ExchangeBannedError` (after recording the run as
    failed) on a ban, :class:`InputError`/:class:`NotFoundError` on bad arguments. Not for
    use inside a running event loop: await :func:`collect_async` there.

    ``on_start`` is called once the lock is held (a caller starting the run in the
    background learns that it was not refused); ``on_record`` with the saved record, also
    of a run that failed (whose exception carries no record).
    """
    return asyncio.run(
        collect_async(
            store,
            exchange_config,
            mode=mode,
            symbols=symbols,
            quote=quote,
            intervals=intervals,
            progress=progress,
            now_ms=now_ms,
            wait=wait,
            batch_candles=batch_candles,
            on_start=on_start,
            on_record=on_record,
        )
    )


async def collect_async(
    store: MarketStore,
    exchange_config: ExchangeConfig,
    *,
    mode: str = "update",
    symbols: Sequence[str] | None = None,
    quote: str = "USDT",
    intervals: Sequence[str | Interval] = ("1h",),
    progress: Progress | None = None,
    now_ms: int | None = None,
    wait: bool = False,
    batch_candles: int = BATCH_CANDLES,
    on_start: Started | None = None,
    on_record: Recorded | None = None,
) -> IngestRun:
    """:func:`collect` for callers already in an event loop (store calls run in threads)."""
    chosen, wanted = check_request(mode, symbols, intervals)
    exchange_client_class()  # without the exchange extra: say so before taking the lock
    if batch_candles < 1:
        raise InputError("batch_candles must be at least 1", field="batch_candles")
    async with exclusive(store, wait=wait):
        if on_start is not None:
            on_start()
        run = CollectionRun(store, exchange_config, mode, progress, now_ms, batch_candles)
        try:
            return await run.execute(chosen, quote.upper(), wanted)
        finally:
            if on_record is not None and run.record is not None:
                on_record(run.record)


def check_request(
    mode: str, symbols: Sequence[str] | None, intervals: Sequence[str | Interval]
) -> tuple[list[str] | None, list[Interval]]:
    """The symbols (``None``: the quote asset's universe) and intervals of a collection
    request, or :class:`InputError` naming what is wrong (before anything runs)."""
    check_mode(mode)
    return _symbols(symbols), _intervals(intervals)


@asynccontextmanager
async def exclusive(store: MarketStore, *, wait: bool = False) -> AsyncIterator[None]:
    """Hold the store's collection lock for the block, or raise :class:`ConflictError`."""
    stack = ExitStack()
    taking = asyncio.ensure_future(
        asyncio.to_thread(stack.enter_context, store.exclusive(LOCK_NAME, wait=wait))
    )
    try:
        held = await asyncio.shield(taking)
    except asyncio.CancelledError:  # the thread may still get the lock: let it go then
        taking.add_done_callback(lambda _: stack.close())
        raise
    try:
        if not held:
            raise ConflictError(
                "another collection is running (in this or another process)",
                hint="wait for it to finish (see the latest runs), or wait for it with --wait",
            )
        yield
    finally:
        stack.close()


def _intervals(intervals: Sequence[str | Interval]) -> list[Interval]:
    if isinstance(intervals, str | Interval):
        intervals = [intervals]
    parsed = list(dict.fromkeys(Interval.parse(i) for i in intervals))
    if not parsed:
        raise InputError("no interval to collect", hint="e.g. 1h", field="interval")
    return parsed


def _symbols(symbols: Sequence[str] | None) -> list[str] | None:
    if symbols is None:
        return None
    if isinstance(symbols, str):
        symbols = symbols.split(",")
    chosen = [s.strip() for s in symbols if s.strip()]
    if not chosen:
        raise InputError("no symbol to collect", hint="e.g. BTCUSDT,ETHUSDT", field="symbols")
    return chosen


__all__ = [
    "BATCH_CANDLES",
    "BATCH_SECONDS",
    "LOCK_NAME",
    "OUTAGE_REASON",
    "PairProgress",
    "Progress",
    "Recorded",
    "Started",
    "check_request",
    "collect",
    "collect_async",
    "exclusive",
]
