"""``/api/metrics``: the Prometheus text exposition format (version 0.0.4), written by hand.

What it holds:

* ``coinbt_http_requests_total{method,route,status}`` and the latency histogram
  ``coinbt_http_request_duration_seconds{method,route}``, by route *template*
  (``/api/crypto/{crypto}/candles``) so the label set stays small; unknown paths share the
  route ``<unmatched>``. Counted by :class:`MetricsMiddleware`.
* ``coinbt_cache_hits_total``, ``..._misses_total``, ``..._hit_ratio``, ``..._errors_total``
  and friends, from the cache's own statistics.
* ``coinbt_store_query_duration_seconds{operation}`` and
  ``coinbt_store_slow_queries_total{operation}``: every call the services make into the
  store, timed.
* ``coinbt_ingest_runs_total{kind,status}`` and ``coinbt_ingest_candles_total{kind}``.
"""

from __future__ import annotations

import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coinbt.services.telemetry import Histogram, TelemetrySnapshot
from coinbt.services.wiring import CacheStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "<unmatched>"


class HttpMetrics:
    """Request counts and latencies by method, route template and status (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            self.latency.setdefault((method, route), Histogram()).observe(seconds)

    def render(self) -> list[str]:
        """The request families as exposition lines."""
        with self._lock:
            requests = dict(self.requests)
            latency = {k: h.copy() for k, h in self.latency.items()}
        lines = _family("coinbt_http_requests_total", "counter", "HTTP requests answered")
        for (method, route, status), n in sorted(requests.items()):
            lines.append(_sample("coinbt_http_requests_total", n, method=method, route=route,
                                 status=status))  # fmt: skip
        name = "coinbt_http_request_duration_seconds"
        lines += _family(name, "histogram", "HTTP request latency, to the last body byte")
        for (method, route), hist in sorted(latency.items()):
            lines += _histogram(name, hist, method=method, route=route)
        return lines


class MetricsMiddleware:
    """Times every HTTP request and counts it under its route template and status."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watching)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - began)


def render(http: HttpMetrics, cache: CacheStats, telemetry: TelemetrySnapshot) -> str:
    """The whole exposition text."""
    lines = http.render() + _cache_lines(cache) + _store_lines(telemetry)
    lines += _ingest_lines(telemetry)
    return "\n".join(lines) + "\n"


def _cache_lines(stats: CacheStats) -> list[str]:
    backend = stats.backend
    lines: list[str] = []
    for field, kind, text in (
        ("hits", "counter", "cache lookups that found a result"),
        ("misses", "counter", "cache lookups that found nothing (or could not ask)"),
        ("sets", "counter", "results written to the cache"),
        ("errors", "counter", "cache backend calls that failed"),
        ("skipped", "counter", "cache calls skipped while the backend is known down"),
        ("evictions", "counter", "entries evicted to stay within bounds"),
    ):
        name = f"coinbt_cache_{field}_total"
        lines += _family(name, kind, text)
        lines.append(_sample(name, getattr(stats, field), backend=backend))
    lines += _family("coinbt_cache_hit_ratio", "gauge", "hits over lookups since start")
    lines.append(_sample("coinbt_cache_hit_ratio", stats.hit_rate, backend=backend))
    if stats.entries is not None:
        lines += _family("coinbt_cache_entries", "gauge", "entries held")
        lines.append(_sample("coinbt_cache_entries", stats.entries, backend=backend))
    return lines


def _store_lines(snap: TelemetrySnapshot) -> list[str]:
    name = "coinbt_store_query_duration_seconds"
    lines = _family(name, "histogram", "time of the services' calls into the store")
    for operation, hist in sorted(snap.store_calls.items()):
        lines += _histogram(name, hist, operation=operation)
    slow = "coinbt_store_slow_queries_total"
    limit = f"store calls slower than {snap.slow_threshold_seconds:g} s"
    lines += _family(slow, "counter", limit)
    for operation in sorted(snap.store_calls):
        lines.append(_sample(slow, snap.slow_store_calls.get(operation, 0), operation=operation))
    return lines


def _ingest_lines(snap: TelemetrySnapshot) -> list[str]:
    runs = "coinbt_ingest_runs_total"
    lines = _family(runs, "counter", "ingest runs (imports and collections) by outcome")
    for (kind, status), n in sorted(snap.ingest_runs.items()):
        lines.append(_sample(runs, n, kind=kind, status=status))
    candles = "coinbt_ingest_candles_total"
    lines += _family(candles, "counter", "candles written by ingest runs")
    for kind, n in sorted(snap.ingest_candles.items()):
        lines.append(_sample(candles, n, kind=kind))
    return lines


def _histogram(name: str, hist: Histogram, **labels: str) -> list[str]:
    lines = [_sample(f"{name}_bucket", n, **labels, le=le) for le, n in hist.cumulative()]
    lines.append(_sample(f"{name}_sum", hist.total, **labels))
    lines.append(_sample(f"{name}_count", hist.count, **labels))
    return lines


def _family(name: str, kind: str, text: str) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


def _sample(name: str, value: float, **labels: str) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {_number(value)}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
