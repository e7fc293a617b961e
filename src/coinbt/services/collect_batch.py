"""The collection's batching of pages into ingest transactions, and its counters.

Fetching is many small pages from many pairs at once; storing is cheapest as few large
transactions. :class:`Batcher` sits between them: it gathers pages until about ``limit``
candles are waiting, then hands them to the ingest callback as one batch (one transaction)
in the background, so the next pages are fetched while the store writes. Batches are
written one at a time and in order, so each pair's stored candles always end where its
fetching has come to, and a run stopped at any point resumes from the store.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coinbt.domain.bars import Bars
from coinbt.domain.market import Gap, IngestReport

logger = logging.getLogger("coinbt.services.collect")

Ingest = Callable[[list[Bars]], Coroutine[Any, Any, None]]


class Batcher:
    """Gathers pages and ingests them in batches of about ``limit`` candles (or whatever
    came within ``max_age_s``), one batch at a time; :meth:`flush` writes what is left and
    waits for it."""

    def __init__(self, ingest: Ingest, limit: int, max_age_s: float = float("inf")) -> None:
        self._ingest, self._limit, self._max_age = ingest, limit, max_age_s
        self._pending: list[Bars] = []
        self._size = 0
        self._since = 0.0  # when the oldest pending page came
        self._writing: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()  # one writer at a time, batches in order

    async def add(self, bars: Bars) -> None:
        """Queue one page; start a batch when enough are waiting (waiting for the previous
        batch first, which slows fetching down to the store's pace)."""
        if not self._pending:
            self._since = time.monotonic()
        self._pending.append(bars)
        self._size += len(bars)
        if self._due():
            await self._next(force=False)

    async def flush(self) -> None:
        """Write everything queued and wait until it is committed."""
        await self._next(force=True)
        async with self._turn:
            await self._finish_writing()

    async def settle(self) -> None:
        """Wait for the batch being written (if any) without starting another: after a
        stop, so the run's counts include every committed batch; its failure is logged."""
        try:
            await self._finish_writing()
        except Exception as exc:
            logger.error("collect: the last batch was not stored: %s", exc)

    async def _next(self, *, force: bool) -> None:
        async with self._turn:
            await self._finish_writing()
            if self._pending and (force or self._due()):
                batch, self._pending, self._size = self._pending, [], 0
                self._writing = asyncio.create_task(self._ingest(merge_pages(batch)))

    def _due(self) -> bool:
        aged = time.monotonic() - self._since >= self._max_age
        return self._size >= self._limit or (bool(self._pending) and aged)

    async def _finish_writing(self) -> None:
        writing = self._writing
        if writing is None:
            return
        try:
            # Shielded: a worker cancelled while waiting must not cancel the write (its
            # thread would commit anyway, uncounted); whoever waits next picks it up.
            await asyncio.shield(writing)
        finally:
            if writing.done():
                self._writing = None


def merge_pages(pages: Sequence[Bars]) -> list[Bars]:
    """One :class:`Bars` per pair and interval from consecutive pages (fewer, larger rows
    for the store); pages that would not join in strictly increasing time stay apart."""
    groups: dict[tuple[str, str], list[Bars]] = {}
    for page in pages:
        groups.setdefault((page.symbol, page.interval.value), []).append(page)
    merged: list[Bars] = []
    for group in groups.values():
        group.sort(key=lambda b: int(b.time[0]))
        joinable = all(int(a.time[-1]) < int(b.time[0]) for a, b in itertools.pairwise(group))
        merged += [_concat(group)] if joinable and len(group) > 1 else group
    return merged


def _concat(group: list[Bars]) -> Bars:
    first = group[0]
    columns = ("time", "open", "high", "low", "close", "volume")
    joined = [np.concatenate([getattr(b, c) for b in group]) for c in columns]
    return Bars(first.symbol, first.interval, *joined)


@dataclass
class Tally:
    """What a run has done so far; becomes the run record's counts and detail."""

    added: int = 0
    revised: int = 0
    pages: int = 0
    ingests: int = 0
    ingest_seconds: float = 0.0
    store_seconds: float = 0.0
    gaps_refetched: int = 0
    moved: set[str] = field(default_factory=set)
    errors: list[dict[str, str]] = field(default_factory=list)
    known_gaps: list[dict[str, Any]] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)

    def ingested(self, reports: Sequence[IngestReport], seconds: float) -> None:
        """Count one committed batch and log whose data versions it moved."""
        self.ingests += 1
        self.ingest_seconds += seconds
        self.store_seconds += seconds
        self.added += sum(r.inserted for r in reports)
        self.revised += sum(r.revised for r in reports)
        moved = {r.symbol for r in reports if r.changed}
        self.moved |= moved
        logger.info(
            "ingest %d: %d candles of %d pairs in %.3f s; data versions moved for %d pairs "
            "(their cached backtests are now unreachable)",
            self.ingests, sum(r.received for r in reports), len({r.symbol for r in reports}),
            seconds, len(moved),
        )  # fmt: skip

    def gap_found(self, symbol: str, gap: Gap) -> None:
        """Count a hole the exchange itself has, now recorded as a known gap."""
        self.known_gaps.append(
            {
                "symbol": symbol,
                "interval": gap.interval.value,
                "start": gap.start,
                "end": gap.end,
                "bars": gap.missing,
            }
        )

    def detail(self, seconds: float) -> dict[str, Any]:
        """The run record's ``detail``."""
        return {
            "duration_seconds": round(seconds, 3),
            "errors": self.errors,
            "known_gaps": self.known_gaps,
            "gaps_refetched": self.gaps_refetched,
            "invalidated_pairs": len(self.moved),
            "marked_inactive": self.inactive,
            "pages": self.pages,
            "ingests": self.ingests,
            "ingest_seconds": round(self.ingest_seconds, 3),
            "store_seconds": round(self.store_seconds, 3),
        }


__all__ = ["Batcher", "Tally", "merge_pages"]
