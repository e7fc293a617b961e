"""``/api/health`` and ``/api/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from coinbt.api import metrics
from coinbt.api.deps import ServicesDep
from coinbt.api.responses import JSONBody
from coinbt.api.schemas import ErrorResponse, Health
from coinbt.services import catalog

router = APIRouter(prefix="/api", tags=["system"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "the store cannot be read"}},
)
async def health(svc: ServicesDep) -> Response:
    """Liveness, with the store's and the cache's status. ``degraded`` (still 200) means
    the cache is down and answers come uncached; ``down`` (503) means the store is."""
    body = await run_in_threadpool(catalog.health, svc.store, svc.cache)
    return JSONBody(body, status_code=503 if body["status"] == "down" else 200)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {metrics.CONTENT_TYPE: {}}, "description": "Prometheus text"},
        503: {"model": ErrorResponse},
    },
)
async def prometheus(request: Request, svc: ServicesDep) -> Response:
    """Request counts and latency by route, cache hits, misses and hit rate, store query
    time and slow queries, ingest runs: the Prometheus text format."""
    text = metrics.render(
        request.app.state.http_metrics, svc.cache.stats(), svc.telemetry.snapshot()
    )
    return Response(text, media_type=metrics.CONTENT_TYPE)
