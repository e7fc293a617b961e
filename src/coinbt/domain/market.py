"""Market-data value types: pairs, the dashboard row, ingest reports, gaps, stored runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from coinbt.domain.interval import Interval
from coinbt.domain.timeutil import format_ms

_QUOTES: tuple[str, ...] = (
    "FDUSD",
    "USDT",
    "USDC",
    "TUSD",
    "BUSD",
    "DAI",
    "EUR",
    "TRY",
    "BTC",
    "ETH",
    "BNB",
)

DASHBOARD_FIELDS: tuple[str, ...] = (
    "crypto_id",
    "symbol",
    "current_price",
    "change_24h_percent",
    "high_7d",
    "low_7d",
    "volume_7d",
    "high_30d",
    "low_30d",
    "volume_30d",
    "all_time_high",
    "all_time_low",
    "total_days",
    "last_updated",
)
"""The dashboard row's names, the same in JSON, the API and the store (DESIGN.md)."""


def split_symbol(symbol: str) -> tuple[str, str]:
    """``("BTC", "USDT")`` from ``BTCUSDT``, by the longest known quote asset at the end;
    a symbol with no known quote is all base and an empty quote."""
    upper = symbol.upper()
    for quote in sorted(_QUOTES, key=len, reverse=True):
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)], quote
    return upper, ""


@dataclass(frozen=True)
class PairSpec:
    """A pair to register: what a collector or an import knows before the store has it."""

    symbol: str
    base: str = ""
    quote: str = ""
    exchange: str = "binance"
    active: bool = True

    @classmethod
    def of(cls, symbol: str, exchange: str = "binance") -> PairSpec:
        """A spec whose base and quote are read off the symbol."""
        base, quote = split_symbol(symbol)
        return cls(symbol.upper(), base, quote, exchange)


@dataclass(frozen=True)
class SeriesInfo:
    """The stored candles of one pair at one interval."""

    interval: Interval
    first_time: int
    last_time: int
    candles: int
    data_version: int
    rollup: bool = False


@dataclass(frozen=True)
class Pair:
    """A stored cryptocurrency pair, with its stable integer id (the seed's crypto_id)."""

    id: int
    symbol: str
    base: str
    quote: str
    exchange: str
    active: bool
    series: tuple[SeriesInfo, ...] = ()

    @property
    def first_time(self) -> int | None:
        """Open time of its oldest stored candle, any interval."""
        times = [s.first_time for s in self.series if not s.rollup]
        return min(times) if times else None

    @property
    def last_time(self) -> int | None:
        """Open time of its newest stored candle, any interval."""
        times = [s.last_time for s in self.series if not s.rollup]
        return max(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the pair, its first and last candle and its series."""
        return {
            "crypto_id": self.id,
            "symbol": self.symbol,
            "base": self.base,
            "quote": self.quote,
            "exchange": self.exchange,
            "active": self.active,
            "first_candle": self.first_time,
            "last_candle": self.last_time,
            "series": [
                {
                    "interval": s.interval.value,
                    "first_candle": s.first_time,
                    "last_candle": s.last_time,
                    "candles": s.candles,
                    "data_version": s.data_version,
                    "rollup": s.rollup,
                }
                for s in self.series
            ],
        }


@dataclass(frozen=True)
class DashboardRow:
    """The market summary of one pair; formulas in DESIGN.md's dashboard paragraph."""

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, names as in :data:`DASHBOARD_FIELDS`."""
        return asdict(self)


@dataclass(frozen=True)
class IngestReport:
    """What one write of candles changed."""

    symbol: str
    interval: Interval
    received: int
    inserted: int
    revised: int
    first_time: int | None = None
    last_time: int | None = None
    data_version: int | None = None

    @property
    def unchanged(self) -> int:
        """Candles that were already stored exactly as given."""
        return self.received - self.inserted - self.revised

    @property
    def changed(self) -> bool:
        """True when any candle was added or revised (the data version moved)."""
        return self.inserted + self.revised > 0


@dataclass(frozen=True)
class Gap:
    """Missing bars between two stored candles: open times ``start .. end`` inclusive."""

    interval: Interval
    start: int
    end: int
    known: bool = False
    reason: str = ""

    @property
    def missing(self) -> int:
        """How many bars are missing."""
        return (self.end - self.start) // self.interval.ms + 1

    def __str__(self) -> str:
        tag = f" (known: {self.reason})" if self.known else ""
        return f"{format_ms(self.start)} .. {format_ms(self.end)}: {self.missing} bars{tag}"


@dataclass(frozen=True)
class StoreStats:
    """What ``coinbt db stats`` prints."""

    backend: str
    schema_version: int
    pairs: int
    candles: dict[str, int]
    rollup_rows: dict[str, int]
    size_bytes: int
    gaps: int
    missing_bars: int
    location: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class StoredRun:
    """A backtest result kept in the store, retrievable by id."""

    id: int
    created_at: int
    crypto_id: int | None
    symbol: str
    interval: str
    strategy: str
    spec: dict[str, Any]
    metrics: dict[str, Any]
    trades: list[dict[str, Any]]
    equity_time: npt.NDArray[np.int64] = field(repr=False)
    equity: npt.NDArray[np.float64] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the spec, metrics, trades and the equity curve as [time, value] pairs."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "crypto_id": self.crypto_id,
            "symbol": self.symbol,
            "interval": self.interval,
            "strategy": self.strategy,
            "spec": self.spec,
            "metrics": self.metrics,
            "trades": self.trades,
            "equity": [
                [int(t), float(v)] for t, v in zip(self.equity_time, self.equity, strict=True)
            ],
        }


@dataclass(frozen=True)
class IngestRun:
    """What one collection or import run did: kept by the store, shown by the API and CLI."""

    kind: str
    started_at: int
    finished_at: int
    status: str
    pairs: int
    candles_added: int
    candles_revised: int
    gaps: int
    errors: int
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    @property
    def duration_seconds(self) -> float:
        """Wall time of the run."""
        return (self.finished_at - self.started_at) / 1000

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the duration."""
        return {**asdict(self), "duration_seconds": self.duration_seconds}
