"""The market: pairs, their candles, the strategy catalogue and the dashboard."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from coinbt.api.deps import ServicesDep
from coinbt.api.responses import EncodedJSON, JSONBody
from coinbt.api.schemas import (
    QUOTE_PATTERN,
    CandlesOut,
    DashboardRowOut,
    DateRef,
    ErrorResponse,
    GapsOut,
    IntervalName,
    PairOut,
    StrategyOut,
)
from coinbt.services import catalog
from coinbt.services.encoding import encode

router = APIRouter(prefix="/api/crypto", tags=["market"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "unknown pair"},
    422: {"model": ErrorResponse, "description": "invalid input"},
}
Quote = Annotated[
    str | None, Query(pattern=QUOTE_PATTERN, description="only pairs quoted in this asset")
]
Limit = Annotated[int, Query(ge=1, le=10_000, description="at most this many rows")]


@router.get("/cryptocurrencies", response_model=list[PairOut], responses=_ERRORS)
async def cryptocurrencies(svc: ServicesDep, quote: Quote = None) -> Response:
    """Every pair: id, symbol, base, quote, first and last candle, candle counts per
    interval (``series``) and in all."""
    return EncodedJSON(
        await run_in_threadpool(lambda: encode(catalog.list_pairs(svc.store, quote=quote)))
    )


@router.get("/strategies", response_model=list[StrategyOut])
async def strategies() -> Response:
    """The strategy catalogue: id, name, description, parameters with defaults and bounds.
    Every run also takes the execution options (initial_investment, transaction_fee,
    slippage, direction, fill, stop_loss_pct, take_profit_pct, trailing_stop_pct)."""
    return JSONBody(catalog.strategy_catalogue())


@router.get("/{crypto}/candles", response_model=CandlesOut, responses=_ERRORS)
async def candles(
    svc: ServicesDep,
    crypto: Annotated[str, Path(max_length=40, description="pair id or symbol")],
    interval: IntervalName = "1d",
    start: Annotated[DateRef | None, Query(description="2024-01-01, ISO time or UTC ms")] = None,
    end: Annotated[DateRef | None, Query(description="inclusive; a date is the whole day")] = None,
) -> Response:
    """A pair's candles in ``[start, end]``; 1d and 1w come from the rollups when the pair
    was collected hourly. An empty list when none fall in the range."""

    def work() -> bytes:  # encoded on the worker thread too: a year of 1h is 8,760 rows
        return encode(catalog.candles(svc.store, crypto, interval=interval, start=start, end=end))

    return EncodedJSON(await run_in_threadpool(work))


@router.get("/{crypto}/gaps", response_model=GapsOut, responses=_ERRORS)
async def gaps(
    svc: ServicesDep,
    crypto: Annotated[str, Path(max_length=40, description="pair id or symbol")],
    interval: IntervalName = "1h",
) -> Response:
    """The runs of missing candles between a pair's stored candles of ``interval``, oldest
    first, each with ``missing`` candles; ``known`` ones are outages of the exchange itself
    (a collection asked for them and got none), with their ``reason``. Daily and weekly
    rollups of hourly candles have no gaps of their own: ask for 1h."""
    body = await run_in_threadpool(catalog.gaps, svc.store, crypto, interval=interval)
    return JSONBody(body)


@router.get("/dashboard", response_model=list[DashboardRowOut], responses=_ERRORS)
async def dashboard(
    svc: ServicesDep,
    sort: Annotated[
        str, Query(json_schema_extra={"enum": list(catalog.DASHBOARD_SORTS)}, max_length=40)
    ] = "symbol",
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    quote: Quote = None,
) -> Response:
    """The maintained market summary of every pair (the seed's dashboard view)."""
    body = await run_in_threadpool(
        lambda: catalog.dashboard_json(
            svc.store,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            quote=quote,
            memo=svc.rendered,
        )
    )
    return EncodedJSON(body)


@router.get("/dashboard/top-gainers", response_model=list[DashboardRowOut], responses=_ERRORS)
async def top_gainers(svc: ServicesDep, limit: Limit = 10) -> Response:
    """The pairs with the largest 24 h change, largest first."""
    body = await run_in_threadpool(
        lambda: catalog.movers_json(svc.store, limit=limit, memo=svc.rendered)
    )
    return EncodedJSON(body)


@router.get("/dashboard/top-losers", response_model=list[DashboardRowOut], responses=_ERRORS)
async def top_losers(svc: ServicesDep, limit: Limit = 10) -> Response:
    """The pairs with the smallest 24 h change, smallest first."""
    body = await run_in_threadpool(
        lambda: catalog.movers_json(svc.store, limit=limit, losers=True, memo=svc.rendered)
    )
    return EncodedJSON(body)
