"""Answers remembered between writes, where only this process can write.

A cached backtest costs one data-version query and one cache lookup; on DuckDB that query
is most of the time of a cached answer (half a millisecond of planning and execution for
one row), and a new run reads its pair's row before its candles. DuckDB lets no other
process write a file this process has open, so an answer read between two writes of this
process stays true until the next write begins: the driver's write generation says when
that happens. On PostgreSQL other processes write, the driver has no generation, and every
call asks the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

MAX_ENTRIES = 4096
"""Kept answers; past this the memo starts again empty (one query each to refill)."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Key = tuple[str, tuple[int, ...]]


class WriteMemo(Generic[K, V]):
    """``key -> answer`` valid for one write generation; ``copy`` hands each caller its
    own answer where answers are mutable."""

    def __init__(
        self, generation: Callable[[], int | None], copy: Callable[[V], V] | None = None
    ) -> None:
        self._generation = generation
        self._copy = copy
        self._kept: dict[K, V] = {}
        self._kept_at: int | None = None
        self._lock = threading.Lock()

    def get(self, key: K, query: Callable[[], V]) -> V:
        """The kept answer for ``key`` when no write began since it was read, else
        ``query()`` (kept when no write ran while it did)."""
        before = self._generation()
        if before is None or before % 2:  # others may write, or a write runs now
            return query()
        with self._lock:
            if self._kept_at == before and key in self._kept:
                return self._handed(self._kept[key])
        found = query()
        with self._lock:
            if self._generation() == before:
                if self._kept_at != before or len(self._kept) >= MAX_ENTRIES:
                    self._kept, self._kept_at = {}, before
                self._kept[key] = self._handed(found)
        return found

    def peek(self, key: K) -> V | None:
        """The kept answer for ``key`` when no write began since it was read, else
        ``None`` (never queries)."""
        now = self._generation()
        if now is None or now % 2:
            return None
        with self._lock:
            if self._kept_at == now and key in self._kept:
                return self._handed(self._kept[key])
        return None

    def _handed(self, answer: V) -> V:
        return answer if self._copy is None else self._copy(answer)


class VersionMemo(WriteMemo[Key, dict[int, int]]):
    """``(interval, pair ids) -> versions`` valid for one write generation."""

    def __init__(self, generation: Callable[[], int | None]) -> None:
        super().__init__(generation, dict)
