"""Request and response bodies of the HTTP API as pydantic models: they are the OpenAPI
schema at ``/api/openapi.json`` and the interactive docs at ``/api/docs``.

Requests are checked here first (types, ranges, unknown keys refused with a 422 naming the
field); the services then check what needs the catalogue or the store: strategy
parameters against their bounds, pairs that exist, a batch within its size limit.
Responses are written by the services as plain JSON; the models below document them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**63 - 1
MAX_TIME_MS = 253_402_300_799_999

IntervalName = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
PairRef = (
    Annotated[int, Field(ge=1, le=MAX_ID)] | Annotated[str, Field(min_length=1, max_length=40)]
)
StrategyRef = (
    Annotated[int, Field(ge=0, le=MAX_ID)] | Annotated[str, Field(min_length=1, max_length=64)]
)
DateRef = Annotated[int, Field(ge=0, le=MAX_TIME_MS)] | Annotated[str, Field(max_length=40)]
Values = dict[str, int | float | str]
QUOTE_PATTERN = r"^[A-Za-z0-9]{1,16}$"
COLLECT_SYMBOL_PATTERN = r"^[A-Za-z0-9._-]{1,40}(/[A-Za-z0-9._-]{1,20})?$"

_SEED_BATCH: dict[str, Any] = {
    "strategy_id": 1,
    "crypto_ids": [1, 2, 3, 4, 5],
    "parameters": {"initial_investment": 10000, "transaction_fee": 0.001},
    "start_date": "2024-01-01",
    "end_date": "2024-12-31",
    "interval": "1d",
    "use_parallel": True,
}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy_id: StrategyRef = Field(description="strategy id or name (sma_cross)")
    parameters: Values = Field(
        default_factory=dict,
        description="strategy parameters (see /api/crypto/strategies), and execution options "
        "such as initial_investment and transaction_fee as in the seed",
    )
    options: Values = Field(
        default_factory=dict,
        description="execution options: initial_investment, transaction_fee, slippage, "
        "direction (long|longshort), fill (next_open|close), stop_loss_pct, "
        "take_profit_pct, trailing_stop_pct",
    )
    start_date: DateRef | None = Field(None, description="2024-01-01, ISO time or UTC ms")
    end_date: DateRef | None = Field(None, description="inclusive; a date means the whole day")
    interval: IntervalName = "1d"


class RunBody(_Request):
    """Backtest one pair."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "crypto_id": "BTCUSDT",
                    "strategy_id": "sma_cross",
                    "parameters": {"fast": 10, "slow": 30, "initial_investment": 10000},
                    "options": {"slippage": 0.0005},
                    "start_date": "2024-01-01",
                    "end_date": "2024-12-31",
                    "interval": "1h",
                    "max_points": 500,
                }
            ]
        },
    )

    crypto_id: PairRef = Field(description="pair id or symbol (BTCUSDT)")
    max_points: int | None = Field(
        None, ge=2, le=1_000_000, description="downsample the equity curve to this many points"
    )
    include_trades: bool = True
    include_equity: bool = True


class BatchBody(_Request):
    """Backtest one strategy over many pairs (the seed's batch request)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_SEED_BATCH]})

    crypto_ids: list[PairRef] | Literal["all"] = Field(
        "all", max_length=100_000, description='pair ids or symbols, or "all"'
    )
    quote: str | None = Field(
        None, pattern=QUOTE_PATTERN, description="only pairs quoted in this asset (USDT)"
    )
    use_parallel: bool = Field(True, description="let the engine run pairs in parallel")
    stream: bool = Field(False, description="answer with server-sent progress events")


class CollectBody(BaseModel):
    """Collect candles from the exchange now (``coinbt collect``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"mode": "update"},
                {"mode": "full", "symbols": ["BTCUSDT", "ETHUSDT"], "interval": "1h"},
            ]
        },
    )

    mode: Literal["update", "full"] = Field(
        "update",
        description="update: each pair from its last stored candle (and the holes in its "
        "history); full: each pair from its first candle on the exchange",
    )
    symbols: list[Annotated[str, Field(pattern=COLLECT_SYMBOL_PATTERN)]] | None = Field(
        None,
        min_length=1,
        max_length=5_000,
        description="BTCUSDT or BTC/USDT; default: every active pair of the quote asset",
    )
    interval: IntervalName | None = Field(
        None, description="default: the server's COINBT_COLLECT_INTERVALS (1h)"
    )
    quote: str | None = Field(
        None,
        pattern=QUOTE_PATTERN,
        description="quote asset of the universe; default: COINBT_COLLECT_QUOTE (USDT)",
    )
    wait: bool = Field(
        False,
        description="when another collection runs, wait for it instead of answering 409",
    )


# -- responses (documentation) ----------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code (not_found, invalid_input...)")
    message: str
    field: str | None = Field(None, description="the request field at fault, when one is")
    hint: str | None = Field(None, description="what to do about it")


class ErrorResponse(BaseModel):
    """Every error, whatever the route."""

    error: ErrorDetail


class IngestRunBrief(BaseModel):
    """A collection (update, full) or import run: what it did."""

    id: int | None
    kind: str = Field(description="update, full, import...")
    status: str = Field(description="ok, partial (some pairs failed) or failed (stopped)")
    started_at: int = Field(description="UTC ms")
    finished_at: int = Field(description="UTC ms")
    duration_seconds: float
    pairs: int
    candles_added: int
    candles_revised: int
    gaps: int = Field(description="exchange outages found (recorded as known gaps)")
    errors: int = Field(description="pairs that failed")


class IngestRunOut(IngestRunBrief):
    detail: dict[str, Any] = Field(
        description="per-pair errors, known gaps, pages, store time, the failure..."
    )


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    version: str
    engine_version: str
    store: dict[str, Any]
    cache: dict[str, Any]
    last_ingest: IngestRunBrief | None = Field(
        description="when the data was last collected: the latest recorded run, or null"
    )


class CollectProgress(BaseModel):
    series_done: int = Field(description="pair-intervals finished")
    series_total: int = Field(description="pair-intervals to fetch (0 until planned)")
    candles_fetched: int


class CollectJobOut(BaseModel):
    """A collection this server started (from this API or its schedule)."""

    id: str = Field(description="GET /api/crypto/collect/jobs/{id}")
    source: Literal["api", "schedule"]
    state: Literal["starting", "waiting", "running", "done", "failed"]
    mode: str
    symbols: list[str] | None
    intervals: list[str]
    quote: str
    wait: bool
    requested_at: int = Field(description="UTC ms")
    started_at: int | None = Field(description="when it took the collection lock")
    finished_at: int | None
    progress: CollectProgress
    run: IngestRunOut | None = Field(description="the recorded run, once it ended")
    error: dict[str, Any] | None = Field(description="why it failed: {code, message, hint}")


class CollectStatusOut(BaseModel):
    running: bool = Field(description="this server runs a collection now")
    active: list[CollectJobOut] = Field(description="its collections not ended yet")
    last_run: IngestRunOut | None = Field(
        description="the latest recorded run, by this server or another process"
    )


class GapOut(BaseModel):
    start: int = Field(description="open time of the first missing candle, UTC ms")
    end: int = Field(description="open time of the last missing candle, UTC ms")
    missing: int = Field(description="missing candles")
    known: bool = Field(description="an outage of the exchange itself (not refetchable)")
    reason: str | None


class GapsOut(BaseModel):
    crypto_id: int
    symbol: str
    interval: str
    gaps: list[GapOut] = Field(description="oldest first")


class SeriesOut(BaseModel):
    interval: str
    first_candle: int
    last_candle: int
    candles: int
    data_version: int
    rollup: bool


class PairOut(BaseModel):
    crypto_id: int
    symbol: str
    base: str
    quote: str
    exchange: str
    active: bool
    first_candle: int | None
    last_candle: int | None
    candles: int = Field(description="stored candles of every interval, rollups excluded")
    series: list[SeriesOut]


class Candle(BaseModel):
    time: int = Field(description="open time, UTC ms")
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandlesOut(BaseModel):
    crypto_id: int
    symbol: str
    interval: str
    start: int | None
    end: int | None
    count: int
    candles: list[Candle]


class ParamOut(BaseModel):
    name: str
    kind: Literal["int", "float"]
    default: float
    min: float
    max: float
    description: str


class StrategyOut(BaseModel):
    id: int
    name: str
    description: str
    parameters: list[ParamOut]


class DashboardRowOut(BaseModel):
    crypto_id: int
    symbol: str
    current_price: float
    change_24h_percent: float | None
    high_7d: float
    low_7d: float
    volume_7d: float
    high_30d: float
    low_30d: float
    volume_30d: float
    all_time_high: float
    all_time_low: float
    total_days: int
    last_updated: int


class EquityCurve(BaseModel):
    time: list[int]
    equity: list[float]
    drawdown_pct: list[float]


class RunOut(BaseModel):
    run_id: int = Field(description="id of the stored run: GET /api/crypto/backtest/runs/{id}")
    cached: bool
    crypto_id: int
    strategy_id: int
    interval: str
    data_version: int
    engine_version: str
    symbol: str
    strategy: str
    parameters: dict[str, float]
    assumptions: dict[str, Any]
    metrics: dict[str, float] = Field(description="names as in DESIGN.md")
    trades: list[dict[str, Any]] | None = None
    equity_curve: EquityCurve | None = None


class Standing(BaseModel):
    crypto_id: int
    symbol: str
    # The seed's name: total return in percent.
    return_: float = Field(alias="return")


class BatchSummary(BaseModel):
    total_cryptocurrencies: int
    successful_backtests: int
    failed_backtests: int
    execution_time_seconds: float
    fetch_time_seconds: float
    parallel_execution: bool
    average_return: float | None
    best_performing: Standing | None
    worst_performing: Standing | None


class PairResultOut(BaseModel):
    crypto_id: int
    symbol: str
    metrics: dict[str, float]
    start: int | None
    end: int | None
    bars: int
    cached: bool


class PairErrorOut(BaseModel):
    crypto_id: int | None
    symbol: str | None
    code: str
    message: str
    hint: str | None = None


class BatchOut(BaseModel):
    summary: BatchSummary
    strategy: dict[str, Any]
    results: dict[str, PairResultOut] = Field(description="keyed by crypto id")
    errors: dict[str, PairErrorOut] | None = Field(
        description="keyed by crypto id (or the requested key of an unknown pair); null "
        "when every pair ran"
    )


class StoredRunOut(BaseModel):
    id: int
    created_at: int
    crypto_id: int | None
    symbol: str
    interval: str
    strategy: str
    spec: dict[str, Any]
    metrics: dict[str, float]
    trades: list[dict[str, Any]]
    equity: list[list[float]] = Field(description="[open time ms, equity] pairs")


class PurgeOut(BaseModel):
    purged: int = Field(description="entries made unreachable")
    backend: str


class RefreshOut(BaseModel):
    refreshed: int = Field(description="dashboard rows recomputed")
