"""Building the adapters from settings: the one place that knows which backend is which."""

from __future__ import annotations

from dataclasses import dataclass

from coinbt.cache import CacheStats, ResultCache, open_cache
from coinbt.collector.exchange_types import ExchangeConfig
from coinbt.config import Settings
from coinbt.services.collect_jobs import CollectRunner
from coinbt.services.jobs import JobRegistry
from coinbt.services.rendered import RenderMemo
from coinbt.services.telemetry import Telemetry, timed
from coinbt.store import SqlStore, open_store
from coinbt.store.base import MarketStore

__all__ = [
    "CacheStats",
    "Services",
    "build_services",
    "exchange_config",
    "open_market_store",
    "open_result_cache",
]


def open_market_store(settings: Settings, *, read_only: bool = False) -> SqlStore:
    """The market store the settings name (DuckDB by default), schema brought up to date
    unless opened read-only."""
    return open_store(
        settings.database_url, read_url=settings.database_read_url, read_only=read_only
    )


def open_result_cache(settings: Settings) -> ResultCache:
    """The result cache COINBT_CACHE_URL names (the in-process LRU by default). Nothing
    connects yet: a Redis that is down only makes lookups miss."""
    return open_cache(settings.cache_url)


@dataclass
class Services:
    """What a long-running entry point (the API server) holds for its lifetime: the store
    (every call timed), the result cache, the background batch jobs, the collections it
    runs, the answers it keeps encoded and the counters.

    Build it with :func:`build_services`; :meth:`close` releases everything."""

    settings: Settings
    store: MarketStore
    cache: ResultCache
    jobs: JobRegistry
    telemetry: Telemetry
    collector: CollectRunner
    rendered: RenderMemo

    def purge_cache(self) -> int:
        """Make every cached result unreachable (and forget the answers encoded from
        them); how many entries the cache dropped."""
        self.rendered.clear()
        return self.cache.purge()

    def close(self) -> None:
        """Stop running collections and wait for them and for running jobs, then close the
        cache and the store."""
        try:
            self.collector.close()
            self.jobs.close()
            self.cache.close()
        finally:
            self.rendered.clear()
            self.store.close()


def build_services(settings: Settings) -> Services:
    """Open the store (migrated) and the cache the settings name."""
    telemetry = Telemetry(slow_seconds=settings.slow_query_ms / 1000)
    store = open_market_store(settings)
    try:
        cache = open_result_cache(settings)
    except BaseException:
        store.close()
        raise
    jobs = JobRegistry(ttl_seconds=settings.batch_job_ttl_seconds)
    measured = timed(store, telemetry)
    collector = CollectRunner(measured, lambda: exchange_config(settings), telemetry)
    return Services(settings, measured, cache, jobs, telemetry, collector, RenderMemo())


def exchange_config(settings: Settings) -> ExchangeConfig:
    """How to reach the exchange: COINBT_EXCHANGE (a ccxt id), COINBT_EXCHANGE_URL (another
    base URL for every endpoint), COINBT_COLLECT_CONCURRENCY and COINBT_COLLECT_RATE_LIMIT."""
    return ExchangeConfig(
        exchange_id=settings.exchange,
        base_url=settings.exchange_url,
        concurrency=settings.collect_concurrency,
        rate_limit=settings.collect_rate_limit,
    )
