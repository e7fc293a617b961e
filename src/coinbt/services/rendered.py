"""Answers kept encoded: a repeated request is answered without encoding it again.

The API's hottest answers are repeats: the dashboard until the next ingest, a cached
backtest asked for again. :class:`RenderMemo` keeps the JSON bytes of such an answer beside
the value it was encoded from, and gives them back only while the caller's value is still
equal to that one. An answer is therefore never stale, only not encoded twice; and the
check is cheap, because the values are the ones the store and the cache hand out again
when nothing changed (the store's reused dashboard rows, the cache's stored bytes), which
compare by identity or by one ``memcmp``.

Bounded by entries and bytes (least recently used first out); thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import NamedTuple

DEFAULT_MAX_ENTRIES = 512
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class _Entry(NamedTuple):
    source: object
    body: bytes
    size: int


class RenderMemo:
    """Encoded answers by key, each valid while its source value is unchanged."""

    def __init__(
        self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0

    def get(self, key: Hashable, source: object) -> bytes | None:
        """The body kept under ``key`` if it was encoded from a value equal to ``source``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        if entry.source is source or entry.source == source:
            return entry.body
        return None

    def put(self, key: Hashable, source: object, body: bytes) -> None:
        """Keep ``body``, encoded from ``source``, under ``key`` (replacing what was there)."""
        size = len(body) + (len(source) if isinstance(source, bytes | bytearray) else 0)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            if size > self.max_bytes:
                return
            self._entries[key] = _Entry(source, body, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size

    def clear(self) -> int:
        """Forget everything; how many answers were kept."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._bytes = 0
        return count

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
