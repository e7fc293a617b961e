"""Collection from the exchange: start one (admin), follow it, list the recorded runs.

``POST /api/crypto/collect`` answers 202 once the collection holds the store's collection
lock and runs in the background, or 409 when another collection runs (this server's API or
schedule, a ``coinbt collect`` in a shell, another server on the same database).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from coinbt.api.deps import AdminDep, ServicesDep
from coinbt.api.responses import JSONBody
from coinbt.api.schemas import (
    CollectBody,
    CollectJobOut,
    CollectStatusOut,
    ErrorResponse,
    IngestRunOut,
)
from coinbt.services import schedule
from coinbt.services.collect_jobs import CollectRequest
from coinbt.services.wiring import Services

router = APIRouter(prefix="/api/crypto/collect", tags=["collect"])

_ADMIN: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong API key"},
    403: {"model": ErrorResponse, "description": "admin routes are off on this server"},
    409: {"model": ErrorResponse, "description": "another collection is running"},
    422: {"model": ErrorResponse, "description": "invalid input, with the field at fault"},
    500: {"model": ErrorResponse, "description": "the exchange settings are invalid"},
    503: {"model": ErrorResponse, "description": "the server is stopping"},
}


@router.post(
    "",
    status_code=202,
    response_model=CollectJobOut,
    dependencies=[AdminDep],
    responses=_ADMIN,
)
async def start_collection(body: CollectBody, svc: ServicesDep) -> Response:
    """Start an update or a full collection from the exchange (COINBT_EXCHANGE,
    COINBT_EXCHANGE_URL) in the background; 202 with its handle once it runs (``wait``:
    once queued behind the running one). Follow it at ``Location``; its record joins
    ``GET /api/crypto/collect/runs`` when it ends. Candles, rollups, dashboard rows and
    data versions are updated batch by batch as it goes."""
    request = _request(svc, body)
    handle = await run_in_threadpool(svc.collector.launch, request)
    location = f"/api/crypto/collect/jobs/{handle.id}"
    return JSONBody(handle.to_dict(), status_code=202, headers={"Location": location})


@router.get("/status", response_model=CollectStatusOut)
async def collection_status(svc: ServicesDep) -> Response:
    """Whether this server runs a collection now (from its API or its schedule), those
    not ended yet, and the latest recorded run."""
    return JSONBody(await run_in_threadpool(svc.collector.status))


@router.get("/runs", response_model=list[IngestRunOut])
async def collection_runs(
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1_000, description="at most this many runs")] = 20,
    kind: Annotated[
        str | None, Query(pattern=r"^[a-z_]{1,20}$", description="update, full, import...")
    ] = None,
) -> Response:
    """The latest recorded collection and import runs, newest first: kind, status, times,
    pairs, candles added and revised, gaps, errors, and the details."""
    found = await run_in_threadpool(lambda: svc.store.ingest_runs(limit=limit, kind=kind))
    return JSONBody([run.to_dict() for run in found])


@router.get(
    "/jobs/{collect_id}",
    response_model=CollectJobOut,
    responses={404: {"model": ErrorResponse, "description": "unknown or long ended"}},
)
async def collection_job(
    svc: ServicesDep, collect_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
) -> Response:
    """One collection this server started: state, progress, and its record once ended."""
    return JSONBody(svc.collector.get(collect_id).to_dict())


def _request(svc: Services, body: CollectBody) -> CollectRequest:
    settings = svc.settings
    intervals = (body.interval,) if body.interval else tuple(schedule.intervals(settings))
    return CollectRequest(
        mode=body.mode,
        symbols=tuple(body.symbols) if body.symbols is not None else None,
        intervals=intervals,
        quote=(body.quote or settings.collect_quote).upper(),
        wait=body.wait,
    )
