"""The in-process cache: a thread-safe LRU bounded by entry count and by bytes.

This is the default (``COINBT_CACHE_URL=memory://``). It lives and dies with the process,
is shared by every thread of it, and needs no setup. When either bound is exceeded the
least recently used entries are evicted first; a value larger than the whole byte budget is
not stored at all. Entries may carry a time-to-live, measured on an injectable monotonic
clock so tests can move time without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from coinbt.cache.base import CacheKey, CacheStats, StatsRecorder, check_ttl

DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class _Entry(NamedTuple):
    value: bytes
    expires_at: float | None


class MemoryCache:
    """A least-recently-used cache in this process.

    ``max_entries`` and ``max_bytes`` bound the cache (values' lengths are counted, keys
    are not); ``default_ttl`` is the lifetime in seconds of entries stored without an
    explicit ``ttl`` (``None``: until evicted, which is safe because keys carry the data
    version). ``clock`` returns seconds and must never go backwards.
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        default_ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.default_ttl = check_ttl(default_ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._stats = StatsRecorder("memory")

    @property
    def backend(self) -> str:
        """Always ``"memory"``."""
        return "memory"

    def get(self, key: CacheKey) -> bytes | None:
        """The stored bytes, or ``None`` when absent or expired."""
        return self.get_many([key])[0]

    def set(self, key: CacheKey, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (``None``: :attr:`default_ttl`)."""
        self.set_many([(key, value)], ttl)

    def get_many(self, keys: Sequence[CacheKey]) -> list[bytes | None]:
        """One answer per key, in order; each hit becomes the most recently used."""
        now = self._clock()
        with self._lock:
            values = [self._lookup(key.digest(), now) for key in keys]
        self._stats.lookups(values)
        return values

    def set_many(self, items: Iterable[tuple[CacheKey, bytes]], ttl: float | None = None) -> None:
        """Store every ``(key, value)`` pair, evicting least recently used entries."""
        lifetime = check_ttl(ttl) if ttl is not None else self.default_ttl
        expires_at = None if lifetime is None else self._clock() + lifetime
        stored = evicted = 0
        with self._lock:
            for key, value in items:
                data = bytes(value)
                self._remove(key.digest())
                if len(data) > self.max_bytes:
                    continue
                self._entries[key.digest()] = _Entry(data, expires_at)
                self._bytes += len(data)
                stored += 1
                evicted += self._evict()
        self._stats.add(sets=stored, evictions=evicted)

    def purge(self) -> int:
        """Drop every entry; return how many there were (expired ones included)."""
        with self._lock:
            dropped = len(self._entries)
            self._entries.clear()
            self._bytes = 0
        return dropped

    def stats(self) -> CacheStats:
        """Counters plus the current entry count and stored bytes."""
        with self._lock:
            entries, size = len(self._entries), self._bytes
        return self._stats.snapshot(entries=entries, size_bytes=size)

    def health(self) -> dict[str, Any]:
        """Always ``ok``: memory is never unreachable."""
        stats = self.stats()
        return {
            "backend": "memory",
            "status": "ok",
            "detail": f"{stats.entries} entries, {stats.size_bytes} bytes",
            "entries": stats.entries,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
        }

    def close(self) -> None:
        """Free the memory held by entries."""
        self.purge()

    def __enter__(self) -> MemoryCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryCache(max_entries={self.max_entries}, max_bytes={self.max_bytes})"

    def _lookup(self, digest: str, now: float) -> bytes | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.expires_at is not None and now >= entry.expires_at:
            self._remove(digest)
            return None
        self._entries.move_to_end(digest)
        return entry.value

    def _remove(self, digest: str) -> None:
        entry = self._entries.pop(digest, None)
        if entry is not None:
            self._bytes -= len(entry.value)

    def _evict(self) -> int:
        evicted = 0
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, entry = self._entries.popitem(last=False)
            self._bytes -= len(entry.value)
            evicted += 1
        return evicted
