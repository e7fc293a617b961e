"""Read-only answers for the API: the pairs, their candles, the strategy catalogue, health.

Each function returns JSON-ready data in the names the HTTP contract uses (DESIGN.md), so
entry points only render.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import coinbt
from coinbt.cache import ResultCache
from coinbt.domain.execution import ExecutionConfig
from coinbt.domain.interval import Interval
from coinbt.domain.market import DASHBOARD_FIELDS, DashboardRow, IngestRun
from coinbt.engine.strategies import all_strategies
from coinbt.errors import CoinbtError, DataRangeError
from coinbt.services import market
from coinbt.services.encoding import encode
from coinbt.services.rendered import RenderMemo
from coinbt.services.runs import ENGINE_VERSION, pair_key, time_range
from coinbt.store.base import DASHBOARD_SORTS, MarketStore

__all__ = [
    "DASHBOARD_SORTS",
    "candles",
    "dashboard_json",
    "dashboard_rows",
    "execution_defaults",
    "gaps",
    "health",
    "ingest_run",
    "list_pairs",
    "movers_json",
    "strategy_catalogue",
]

CANDLE_FIELDS = ("time", "open", "high", "low", "close", "volume")


def list_pairs(store: MarketStore, *, quote: str | None = None) -> list[dict[str, Any]]:
    """Every pair: id, symbol, base, quote, first and last candle, its series and the
    number of candles it holds (rollups not counted)."""
    out = []
    for pair in store.pairs(quote=quote):
        row = pair.to_dict()
        row["candles"] = sum(s.candles for s in pair.series if not s.rollup)
        out.append(row)
    return out


def candles(
    store: MarketStore,
    key: int | str,
    *,
    interval: str = "1h",
    start: str | int | None = None,
    end: str | int | None = None,
) -> dict[str, Any]:
    """A pair's candles with open time in ``[start, end]`` (daily and weekly ones from the
    rollups when the pair was collected hourly); an empty list when there are none."""
    ivl = Interval.parse(interval)
    lo, hi = time_range(start, end)
    pair = store.pair(pair_key(key))
    rows: list[dict[str, Any]] = []
    try:
        bars = store.read(pair.id, ivl, lo, hi)
    except DataRangeError:
        bars = None
    if bars is not None:
        columns = [getattr(bars, name).tolist() for name in CANDLE_FIELDS]
        rows = [
            dict(zip(CANDLE_FIELDS, values, strict=True)) for values in zip(*columns, strict=True)
        ]
    return {
        "crypto_id": pair.id,
        "symbol": pair.symbol,
        "interval": ivl.value,
        "start": lo,
        "end": hi,
        "count": len(rows),
        "candles": rows,
    }


def gaps(store: MarketStore, key: int | str, *, interval: str = "1h") -> dict[str, Any]:
    """The runs of missing candles between a pair's stored candles of ``interval``, oldest
    first; ``known`` ones are outages the exchange itself has (recorded by a collection,
    with the ``reason``). Daily and weekly rollups of hourly candles have none of their
    own: ask for the interval the pair was collected at."""
    ivl = Interval.parse(interval)
    pair = store.pair(pair_key(key))
    return {
        "crypto_id": pair.id,
        "symbol": pair.symbol,
        "interval": ivl.value,
        "gaps": [
            {
                "start": gap.start,
                "end": gap.end,
                "missing": gap.missing,
                "known": gap.known,
                "reason": gap.reason or None,
            }
            for gap in store.gaps(pair.id, ivl)
        ],
    }


def dashboard_json(
    store: MarketStore,
    *,
    sort: str = "symbol",
    descending: bool = False,
    limit: int | None = None,
    quote: str | None = None,
    memo: RenderMemo | None = None,
) -> bytes:
    """The dashboard rows (:func:`dashboard_rows`) as JSON bytes, encoded again only when
    the rows changed (``memo``)."""
    rows = market.dashboard(store, sort=sort, descending=descending, limit=limit, quote=quote)
    return _rows_json(("dashboard", sort, descending, limit, quote), rows, memo)


def movers_json(
    store: MarketStore, *, limit: int = 10, losers: bool = False, memo: RenderMemo | None = None
) -> bytes:
    """Top gainers (or losers) as JSON bytes, encoded again only when they changed."""
    rows = market.movers(store, limit=limit, losers=losers)
    return _rows_json(("movers", limit, losers), rows, memo)


def _rows_json(key: Hashable, rows: list[DashboardRow], memo: RenderMemo | None) -> bytes:
    # The store hands out the same row objects while nothing changed: comparing the lists
    # is then an identity check per row.
    body = memo.get(key, rows) if memo is not None else None
    if body is None:
        body = encode(dashboard_rows(rows))
        if memo is not None:
            memo.put(key, rows, body)
    return body


def dashboard_rows(rows: Sequence[DashboardRow]) -> list[dict[str, Any]]:
    """Dashboard rows as JSON-ready dicts, names as in DESIGN.md. (Field by field: the
    general ``dataclasses.asdict`` copies deeply and costs ten times more for 200 rows.)"""
    return [{name: getattr(row, name) for name in DASHBOARD_FIELDS} for row in rows]


def strategy_catalogue() -> list[dict[str, Any]]:
    """The strategies: id, name, description, parameters with defaults and bounds."""
    return [s.to_dict() for s in all_strategies()]


def execution_defaults() -> dict[str, Any]:
    """The execution options every run accepts, with their defaults."""
    return ExecutionConfig().to_dict()


def ingest_run(run: IngestRun) -> dict[str, Any]:
    """A collection or import run in brief (its counts, not its details)."""
    body = run.to_dict()
    body.pop("detail", None)
    return body


def health(store: MarketStore, cache: ResultCache) -> dict[str, Any]:
    """``status`` ok, degraded (the cache is down: answers still come, uncached) or down
    (the store cannot be read), with the store's and the cache's own status, and when the
    data was last collected (``last_ingest``: the latest recorded run, or null)."""
    try:
        store_status: dict[str, Any] = {
            "status": "ok",
            "backend": store.backend,
            "schema_version": store.schema_version(),
        }
    except CoinbtError as exc:
        store_status = {"status": "down", "backend": store.backend, "detail": exc.message}
    last_ingest = None
    if store_status["status"] == "ok":
        try:
            latest = store.ingest_runs(limit=1)
            last_ingest = ingest_run(latest[0]) if latest else None
        except CoinbtError:
            pass  # the store answered a moment ago: report it up, without the run
    cache_status = cache.health()
    if store_status["status"] != "ok":
        status = "down"
    else:
        status = "ok" if cache_status.get("status") == "ok" else "degraded"
    return {
        "status": status,
        "version": coinbt.__version__,
        "engine_version": ENGINE_VERSION,
        "store": store_status,
        "cache": cache_status,
        "last_ingest": last_ingest,
    }
