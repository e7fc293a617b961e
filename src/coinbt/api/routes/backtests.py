"""Backtests: one pair, a batch (optionally streamed), a batch's events, stored runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from coinbt.api import sse
from coinbt.api.deps import ServicesDep
from coinbt.api.responses import EncodedJSON
from coinbt.api.schemas import (
    MAX_ID,
    BatchBody,
    BatchOut,
    ErrorResponse,
    RunBody,
    RunOut,
    StoredRunOut,
)
from coinbt.services import batches, runs
from coinbt.services.encoding import encode
from coinbt.services.wiring import Services

router = APIRouter(prefix="/api/crypto/backtest", tags=["backtests"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "unknown pair, strategy or run"},
    422: {"model": ErrorResponse, "description": "invalid input, with the field at fault"},
}
_STREAM = {"text/event-stream": {"description": "with stream: server-sent events"}}


@router.post("/run", response_model=RunOut, responses=_ERRORS)
async def run(body: RunBody, svc: ServicesDep) -> Response:
    """Backtest one pair: metrics, assumptions, trades, the equity curve (downsampled to
    ``max_points``), the id of the stored run and whether the result came from the cache."""

    spec = _spec(body)
    points, equity, trades = body.max_points, body.include_equity, body.include_trades
    # A result asked before is sent from here when nothing needs I/O to find it: the
    # hop to a worker thread costs more than the whole answer.
    found = runs.look_up_at_once(svc.store, svc.cache, body.crypto_id, spec)
    kept = runs.rendered(found, svc.rendered, max_points=points, equity=equity, trades=trades)
    if kept is not None:
        return EncodedJSON(kept)

    def work() -> bytes:
        return runs.answer(
            svc.store,
            svc.cache,
            body.crypto_id,
            spec,
            max_points=points,
            equity=equity,
            trades=trades,
            memo=svc.rendered,
            found=found,
        )

    return EncodedJSON(await run_in_threadpool(work))


@router.post(
    "/batch",
    response_model=BatchOut,
    responses={**_ERRORS, 200: {"content": _STREAM, "description": "the batch"}},
)
async def batch(body: BatchBody, request: Request, svc: ServicesDep) -> Response:
    """Backtest one strategy over many pairs: one store read, the engine's batch path, the
    cache per pair. The answer keeps the seed's shape: ``summary``, ``results`` keyed by
    crypto id, ``errors`` (null when every pair ran).

    With ``"stream": true`` (or ``Accept: text/event-stream``) the answer is server-sent
    events instead: ``started``, one ``pair`` event per finished pair, then ``summary``
    with the whole answer. Resume a lost stream at ``GET .../batch/{batch_id}/events``."""
    plan = await run_in_threadpool(_plan, svc, body)
    if body.stream or sse.MEDIA_TYPE in request.headers.get("accept", ""):
        job = batches.start_batch_job(svc.jobs, svc.store, svc.cache, plan)
        return sse.stream(job)
    report = await run_in_threadpool(
        lambda: encode(batches.run_batch(svc.store, svc.cache, plan).to_dict())
    )
    return EncodedJSON(report)


@router.get(
    "/batch/{batch_id}/events",
    response_class=Response,
    responses={200: {"content": _STREAM, "description": "the events"}, **_ERRORS},
)
async def batch_events(
    svc: ServicesDep,
    batch_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID, description="like Last-Event-ID")] = None,
) -> Response:
    """The events of a streamed batch after ``Last-Event-ID``, then live ones until it
    ends. Finished batches stay here for a while (COINBT_BATCH_JOB_TTL_SECONDS)."""
    job = svc.jobs.get(batch_id)
    return sse.stream(job, sse.resume_point(last_event_id, after))


@router.get("/runs/{run_id}", response_model=StoredRunOut, responses=_ERRORS)
async def stored_run(
    svc: ServicesDep,
    run_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    max_points: Annotated[int | None, Query(ge=2, le=1_000_000)] = None,
) -> Response:
    """A stored run: its spec, metrics, trades and equity curve (downsampled to
    ``max_points``)."""
    body = await run_in_threadpool(
        lambda: encode(runs.stored_run(svc.store, run_id, max_points=max_points))
    )
    return EncodedJSON(body)


def _spec(body: RunBody | BatchBody) -> runs.RunSpec:
    return runs.prepare_spec(
        body.strategy_id,
        body.parameters,
        body.options,
        interval=body.interval,
        start=body.start_date,
        end=body.end_date,
    )


def _plan(svc: Services, body: BatchBody) -> batches.BatchPlan:
    return batches.plan_batch(
        svc.store,
        _spec(body),
        body.crypto_ids,
        quote=body.quote,
        use_parallel=body.use_parallel,
        max_pairs=svc.settings.max_batch_pairs,
    )
