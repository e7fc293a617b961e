"""The shared cache: Redis, for several API workers or hosts (``COINBT_CACHE_URL=redis://``).

Keys look like ``coinbt:g3:v1:bt:BTCUSDT:1h:<sha256>``: the configurable ``prefix``, the
namespace *generation*, then :attr:`CacheKey.path`. The generation is a counter stored at
``<prefix>:gen``; :meth:`RedisCache.purge` increments it, which makes every earlier entry
unreachable in O(1) without ``KEYS`` or ``SCAN``; the old entries expire on their own
(every value is written with a TTL, seven days by default). Each lookup reads the
generation in the same round trip as the values, so a purge made by another process is
seen at once.

Redis is an optimisation, never a dependency: connection refused, a timeout, or a server
that goes away mid-call make lookups miss and writes do nothing. The failure is logged once
per outage (logger ``coinbt.cache.redis``) and counted in :meth:`RedisCache.stats`, and a
:class:`~coinbt.cache.breaker.CircuitBreaker` then skips Redis for a few seconds so a dead
server does not add a timeout to every request. Only :meth:`RedisCache.purge`, an explicit
admin action, reports failure, with :class:`~coinbt.errors.CacheError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from coinbt.cache.base import (
    DEFAULT_NAMESPACE,
    CacheKey,
    CacheStats,
    StatsRecorder,
    check_ttl,
    redact,
)
from coinbt.cache.breaker import CircuitBreaker
from coinbt.errors import CacheError

logger = logging.getLogger(__name__)

DEFAULT_TTL = 7 * 24 * 3600.0
"""Lifetime of an entry written without an explicit ``ttl``: seven days."""

DEFAULT_TIMEOUT = 0.25
"""Seconds to wait for a connection or an answer before treating Redis as down."""

FAILURES: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
"""What counts as "Redis failed": every redis-py error and raw socket errors."""

T = TypeVar("T")


def connect(url: str, timeout: float = DEFAULT_TIMEOUT) -> redis.Redis:
    """A redis-py client for ``url`` with short timeouts and no retries of its own.

    redis-py retries failed commands with a back-off by default; here the circuit breaker
    decides when to try again, so the client gives up after one attempt. Nothing connects
    until the first command.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        decode_responses=False,
    )


def _generation(raw: object) -> int:
    """A counter as stored by Redis (``b"3"``); missing or garbled reads as 0."""
    try:
        return int(raw) if isinstance(raw, bytes | str | int) else 0
    except ValueError:
        return 0


def _value(raw: object) -> bytes | None:
    return raw if isinstance(raw, bytes) else None


class RedisCache:
    """The :class:`~coinbt.cache.base.ResultCache` contract on a Redis server.

    ``client`` is a redis-py client (build one with :func:`connect`, or use
    :meth:`from_url`); it is closed by :meth:`close` when ``owns_client`` is true.
    ``prefix`` namespaces every key (tests use a unique one). ``default_ttl`` is the
    lifetime of entries stored without an explicit ``ttl``. ``breaker`` decides when to
    retry after a failure; ``name`` is how logs and :meth:`health` refer to the server.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = DEFAULT_NAMESPACE,
        default_ttl: float = DEFAULT_TTL,
        breaker: CircuitBreaker | None = None,
        owns_client: bool = True,
        name: str = "redis",
    ) -> None:
        if not prefix or any(ch.isspace() for ch in prefix):
            raise ValueError(f"prefix must be a non-empty word, not {prefix!r}")
        self._client = client
        self.prefix = prefix
        self.default_ttl = check_ttl(default_ttl) or DEFAULT_TTL
        self.breaker = breaker or CircuitBreaker()
        self._owns_client = owns_client
        self.name = name
        self._generation = 0
        self._last_error = ""
        self._stats = StatsRecorder("redis")

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_NAMESPACE,
        default_ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        cooldown: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> RedisCache:
        """A cache on the server at ``url`` (``redis://`` or ``rediss://``), not yet
        connected. ``cooldown`` is the first back-off after a failure, in seconds."""
        breaker = CircuitBreaker(cooldown, max(cooldown, 30.0), clock)
        client = connect(url, timeout)
        return cls(
            client, prefix=prefix, default_ttl=default_ttl, breaker=breaker, name=redact(url)
        )

    @property
    def backend(self) -> str:
        """Always ``"redis"``."""
        return "redis"

    def get(self, key: CacheKey) -> bytes | None:
        """The stored bytes, or ``None`` when absent, expired or Redis is unreachable."""
        return self.get_many([key])[0]

    def set(self, key: CacheKey, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (``None``: :attr:`default_ttl`)."""
        self.set_many([(key, value)], ttl)

    def get_many(self, keys: Sequence[CacheKey]) -> list[bytes | None]:
        """One answer per key, in order, with one ``MGET`` (two right after a purge)."""
        if not keys:
            return []
        paths = [key.path for key in keys]
        values = self._guarded("get", lambda: self._fetch(paths))
        answers: list[bytes | None] = [None] * len(keys) if values is None else values
        self._stats.lookups(answers)
        return answers

    def set_many(self, items: Iterable[tuple[CacheKey, bytes]], ttl: float | None = None) -> None:
        """Store every pair in one pipeline, each with the TTL; a no-op if Redis is down."""
        millis = max(1, round((check_ttl(ttl) or self.default_ttl) * 1000))
        pairs = [(key.path, bytes(value)) for key, value in items]
        if not pairs:
            return
        stored = self._guarded("set", lambda: self._store(pairs, millis))
        if stored:
            self._stats.add(sets=len(pairs))

    def purge(self) -> int:
        """Make every entry unreachable by bumping the generation; return how many
        entries were written in the purged generation (an entry rewritten after it
        expired counts again, since counting live keys would need a scan).

        Tried even while the circuit is open; raises :class:`CacheError` on failure.
        """
        try:
            new = int(self._client.incr(self._gen_key))
            pipe = self._client.pipeline(transaction=False)
            pipe.get(self._count_key(new - 1))
            pipe.delete(self._count_key(new - 1))
            written, _ = pipe.execute()
        except FAILURES as exc:
            self._failed("purge", exc)
            raise CacheError(
                f"could not purge the Redis cache at {self.name}: {exc}",
                hint="check that Redis is running and reachable, then retry the purge",
            ) from exc
        self._succeeded()
        self._generation = new
        return _generation(written)

    def stats(self) -> CacheStats:
        """Counters of this process; never touches the network (``entries`` is None)."""
        return self._stats.snapshot()

    def health(self) -> dict[str, Any]:
        """``status`` ``ok`` with the generation and approximate entry count after a
        ``PING``, or ``down`` with the last error. While the circuit is open this answers
        without contacting Redis."""
        report: dict[str, Any] = {"backend": "redis", "url": self.name, "prefix": self.prefix}
        if self.breaker.state == "open" and self.breaker.retry_in() > 0:
            wait = self.breaker.retry_in()
            detail = f"unreachable ({self._last_error}); next try in {wait:.1f} s"
            return {**report, "status": "down", "detail": detail}
        probe = self._guarded("health", self._probe)
        if probe is None:
            return {**report, "status": "down", "detail": f"unreachable ({self._last_error})"}
        generation, entries = probe
        detail = f"generation {generation}, about {entries} entries"
        return {**report, "status": "ok", "detail": detail, "entries": entries}

    def close(self) -> None:
        """Close the connection pool (when this cache created the client)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RedisCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisCache({self.name!r}, prefix={self.prefix!r})"

    @property
    def _gen_key(self) -> str:
        return f"{self.prefix}:gen"

    def _entry_key(self, generation: int, path: str) -> str:
        return f"{self.prefix}:g{generation}:{path}"

    def _count_key(self, generation: int) -> str:
        return f"{self.prefix}:g{generation}:count"

    def _fetch(self, paths: list[str]) -> list[bytes | None]:
        generation = self._generation
        pipe = self._client.pipeline(transaction=False)
        pipe.get(self._gen_key)
        pipe.mget([self._entry_key(generation, path) for path in paths])
        raw_generation, values = pipe.execute()
        current = _generation(raw_generation)
        if current != generation:  # purged since we last looked, maybe by another process
            self._generation = current
            values = self._client.mget([self._entry_key(current, path) for path in paths])
        return [_value(raw) for raw in values]

    def _store(self, pairs: list[tuple[str, bytes]], millis: int) -> bool:
        generation = self._generation
        current = self._write(generation, pairs, millis)
        if current != generation:  # written under a purged generation: write again
            self._generation = current
            self._write(current, pairs, millis)
        return True

    def _write(self, generation: int, pairs: list[tuple[str, bytes]], millis: int) -> int:
        pipe = self._client.pipeline(transaction=False)
        pipe.get(self._gen_key)
        for path, value in pairs:
            pipe.set(self._entry_key(generation, path), value, px=millis)
        count = self._count_key(generation)
        pipe.incrby(count, len(pairs))
        pipe.pexpire(count, max(millis, round(self.default_ttl * 1000)))
        return _generation(pipe.execute()[0])

    def _probe(self) -> tuple[int, int]:
        pipe = self._client.pipeline(transaction=False)
        pipe.ping()
        pipe.get(self._gen_key)
        _, raw_generation = pipe.execute()
        generation = _generation(raw_generation)
        return generation, _generation(self._client.get(self._count_key(generation)))

    def _guarded(self, operation: str, call: Callable[[], T]) -> T | None:
        """``call()``, or ``None`` when the circuit is open or Redis fails."""
        if not self.breaker.allow():
            self._stats.add(skipped=1)
            return None
        try:
            result = call()
        except FAILURES as exc:
            self._failed(operation, exc)
            return None
        self._succeeded()
        return result

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._stats.add(errors=1)
        self._last_error = f"{type(exc).__name__}: {exc}"
        if self.breaker.record_failure():
            logger.warning(
                "Redis cache %s unavailable during %s (%s); answering misses, retrying in %.1f s",
                self.name,
                operation,
                self._last_error,
                self.breaker.retry_in(),
            )
        else:
            logger.debug("Redis cache %s still unavailable: %s", self.name, self._last_error)

    def _succeeded(self) -> None:
        if self.breaker.record_success():
            logger.info("Redis cache %s reachable again", self.name)
