"""What the services count for ``/api/metrics``: store call times, slow calls, ingest runs.

A handful of thread-safe numbers, kept by hand rather than through a metrics library: the
API renders them (with its own request counts and the cache's statistics) in the
Prometheus text format.

* :class:`TimedStore` wraps a :class:`~coinbt.store.base.MarketStore` and times every call
  into it, per operation (``read_batch``, ``dashboard``...); calls slower than the slow
  threshold are also counted as slow queries.
* :meth:`Telemetry.record_ingest` is bumped by whatever ingests candles (an import, a
  collection run), with its kind and outcome.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from coinbt.store.base import MarketStore

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Upper bounds (seconds) of the latency histograms' buckets."""


@dataclass
class Histogram:
    """Counts of observations per bucket (not cumulative), their sum and count."""

    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf

    def observe(self, value: float) -> None:
        """Add one observation (not thread-safe: callers hold their lock)."""
        self.counts[bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count of observations <= le)`` per bucket, ``+Inf`` last."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip((*map(repr, self.buckets), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def copy(self) -> Histogram:
        return Histogram(self.buckets, list(self.counts), self.total, self.count)


@dataclass(frozen=True)
class TelemetrySnapshot:
    """A consistent copy of the counters, for rendering."""

    store_calls: dict[str, Histogram]
    slow_store_calls: dict[str, int]
    slow_threshold_seconds: float
    ingest_runs: dict[tuple[str, str], int]
    ingest_candles: dict[str, int]


class Telemetry:
    """The services' counters; every method is thread-safe."""

    def __init__(self, *, slow_seconds: float = 0.25) -> None:
        self._slow = slow_seconds
        self._lock = threading.Lock()
        self._store: dict[str, Histogram] = {}
        self._slow_calls: dict[str, int] = {}
        self._ingests: dict[tuple[str, str], int] = {}
        self._ingest_candles: dict[str, int] = {}

    def observe_store(self, operation: str, seconds: float) -> None:
        """Record one store call of ``operation`` that took ``seconds``."""
        with self._lock:
            self._store.setdefault(operation, Histogram()).observe(seconds)
            if seconds >= self._slow:
                self._slow_calls[operation] = self._slow_calls.get(operation, 0) + 1

    def record_ingest(self, kind: str, status: str = "ok", candles: int = 0) -> None:
        """Count one ingest run (``kind``: import, update, full...; ``status``: ok or
        failed) and the candles it wrote."""
        with self._lock:
            self._ingests[(kind, status)] = self._ingests.get((kind, status), 0) + 1
            self._ingest_candles[kind] = self._ingest_candles.get(kind, 0) + candles

    def snapshot(self) -> TelemetrySnapshot:
        """The counters now."""
        with self._lock:
            return TelemetrySnapshot(
                {op: h.copy() for op, h in self._store.items()},
                dict(self._slow_calls),
                self._slow,
                dict(self._ingests),
                dict(self._ingest_candles),
            )


class TimedStore:
    """A :class:`MarketStore` that times every call into the store it wraps.

    Attributes pass through; methods come back wrapped, so the services need no change to
    be measured. Use it where a ``MarketStore`` is expected (:func:`timed`)."""

    def __init__(self, inner: MarketStore, telemetry: Telemetry) -> None:
        self._inner = inner
        self._telemetry = telemetry

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr
        return _timed(name, attr, self._telemetry)


def timed(store: MarketStore, telemetry: Telemetry) -> MarketStore:
    """``store`` with every call timed into ``telemetry``."""
    return cast(MarketStore, TimedStore(store, telemetry))


def _timed(name: str, call: Callable[..., Any], telemetry: Telemetry) -> Callable[..., Any]:
    def measured(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            telemetry.observe_store(name, time.perf_counter() - began)

    return measured
