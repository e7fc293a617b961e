"""The exchange client's value types, and the client itself loaded on demand.

They stand apart from :mod:`coinbt.collector.exchange` (the only module that imports ccxt)
so that the settings, the schedule and the server can be built on the core install, which
has no ccxt: only a collection needs the ``exchange`` extra, and
:func:`exchange_client_class` says how to install it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from coinbt.errors import ConfigurationError

if TYPE_CHECKING:
    from coinbt.collector.exchange import ExchangeClient


@dataclass(frozen=True)
class ExchangeConfig:
    """How to reach the exchange and how hard to push it."""

    exchange_id: str = "binance"  # any ccxt exchange id
    base_url: str | None = None  # COINBT_EXCHANGE_URL: replaces the host of every endpoint
    timeout_s: float = 10.0  # per request
    max_retries: int = 5  # retries of a temporary fault after the first attempt
    backoff_base_s: float = 0.5  # the first retry waits 0.25..0.5 s, doubling up to the cap
    backoff_cap_s: float = 30.0
    concurrency: int = 8  # requests in flight; pairs fetched at once by fetch_many
    rate_limit: bool = True  # ccxt's limiter with the exchange's weights; off for a stand-in
    rate_limit_window_s: float | None = 60.0  # rolling window (Binance counts per minute)
    rate_limit_ms: float | None = None  # ccxt's ms per unit of weight (Binance 50); larger
    # stays further below the limit
    page_limit: int = 1000  # candles per request: the exchange's maximum (Binance: 1,000)
    raw_klines: bool = True  # Binance's klines parsed with numpy; False: ccxt's fetch_ohlcv
    seed: int | None = None  # of the backoff jitter, for reproducible runs

    def __post_init__(self) -> None:
        ok = self.timeout_s > 0 and self.max_retries >= 0 and self.concurrency >= 1
        if not (ok and 0 <= self.backoff_base_s <= self.backoff_cap_s and self.page_limit >= 1):
            raise ConfigurationError(
                f"invalid exchange settings {self}",
                hint="timeout, concurrency and page limit must be positive, retries not "
                "negative, and the backoff base at most its cap",
            )
        url = urlsplit(self.base_url or "http://unset")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigurationError(
                f"invalid exchange URL {self.base_url!r}",
                hint="COINBT_EXCHANGE_URL must look like http://127.0.0.1:8080",
            )


@dataclass(frozen=True)
class Market:
    """A spot pair: ``symbol`` is coinbt's name (``BTCUSDT``), ``exchange_symbol`` ccxt's."""

    symbol: str
    base: str
    quote: str
    active: bool
    exchange_symbol: str  # BTC/USDT
    id: str  # the exchange's own market id


def exchange_client_class() -> type[ExchangeClient]:
    """The ccxt client class; :class:`ConfigurationError` saying what to install when the
    ``exchange`` extra (ccxt and its HTTP client) is missing."""
    try:
        from coinbt.collector.exchange import ExchangeClient  # noqa: PLC0415 - optional extra
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"collecting from an exchange needs {exc.name!r}, which is not installed",
            hint="install the exchange extra: pip install 'coinbt[exchange]'",
        ) from exc
    return ExchangeClient
