"""Result cache: one contract, an in-process LRU and Redis.

Build a cache with :func:`open_cache` from ``COINBT_CACHE_URL``::

    cache = open_cache(settings.cache_url)        # memory:// or redis://host:6379/0
    key = CacheKey("sma_cross", {"fast": 10, "slow": 30}, "BTCUSDT", "1h",
                   start, end, config.to_dict(), engine_version, data_version)
    blob = cache.get(key)                          # bytes, or None on a miss
    if blob is None:
        blob = serialise(run_backtest(...))
        cache.set(key, blob)

Every backend follows :class:`ResultCache`: lookups never raise because a backend is down
(they miss, and the failure is logged and counted), and keys carry the pair's data
version so new candles make old results unreachable at once. ``RedisCache`` lives in
:mod:`coinbt.cache.redis` and is imported only when a ``redis://`` URL asks for it, so the
``redis`` package stays optional.
"""

from __future__ import annotations

from coinbt.cache.base import KEY_SCHEMA, CacheKey, CacheStats, ResultCache
from coinbt.cache.factory import open_cache
from coinbt.cache.memory import MemoryCache

__all__ = ["KEY_SCHEMA", "CacheKey", "CacheStats", "MemoryCache", "ResultCache", "open_cache"]
