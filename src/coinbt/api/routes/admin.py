"""Admin routes: rebuild the dashboard summary, purge the result cache.

They need ``COINBT_API_KEY`` when it is set, and are refused when it is not and the server
listens beyond loopback (:func:`coinbt.api.deps.require_admin`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from coinbt.api.deps import AdminDep, ServicesDep
from coinbt.api.responses import JSONBody
from coinbt.api.schemas import ErrorResponse, PurgeOut, RefreshOut

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong API key"},
    403: {"model": ErrorResponse, "description": "admin routes are off on this server"},
}

router = APIRouter(tags=["admin"], dependencies=[AdminDep], responses=_ERRORS)


@router.post("/api/crypto/dashboard/refresh", response_model=RefreshOut)
async def refresh_dashboard(svc: ServicesDep) -> Response:
    """Recompute the dashboard row of every pair (the seed's
    ``refresh_crypto_dashboard()``); ingests already keep the rows they touch current."""
    refreshed = await run_in_threadpool(svc.store.refresh_dashboard)
    return JSONBody({"refreshed": refreshed})


@router.post(
    "/api/cache/purge",
    response_model=PurgeOut,
    responses={503: {"model": ErrorResponse, "description": "the cache could not be purged"}},
)
async def purge_cache(svc: ServicesDep) -> Response:
    """Make every cached result unreachable (new candles already do that for their pair)."""
    purged = await run_in_threadpool(svc.purge_cache)
    return JSONBody({"purged": purged, "backend": svc.cache.backend})
