"""The HTTP API: :func:`create_app` builds the FastAPI application from settings.

Why FastAPI: request bodies are declared once as pydantic models (pydantic is already how
coinbt reads its settings) and become both the validation and the OpenAPI schema, which
schemathesis then tests; it runs on uvicorn, and Starlette underneath gives the plain ASGI
hooks the compression and metrics middleware need.

Nothing happens at import time and nothing is global: the store, the cache, the job
runner and, when ``COINBT_COLLECT_SCHEDULE`` is on, the collection schedule are built when
the app starts (its lifespan) and stopped when it stops, so tests create as many apps as
they like. Stopping cancels a collection still running (it records itself as failed and
keeps what it stored), stops the schedule, then closes the cache and the store.

The store and the engine block, so every call into them runs on a worker thread, off the
event loop (and so does encoding a large answer); the DuckDB driver gives each read its
own cursor and serialises writes, so concurrent requests are safe.

Middleware, outermost first: request metrics, the catch-all 500, compression.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from coinbt import __version__
from coinbt.api.compression import CompressionMiddleware
from coinbt.api.errors import CatchAllMiddleware, install_error_handlers
from coinbt.api.metrics import HttpMetrics, MetricsMiddleware
from coinbt.api.responses import JSONBody
from coinbt.api.routes import ROUTERS
from coinbt.config import Settings
from coinbt.services.schedule import CollectSchedule, start_schedule
from coinbt.services.wiring import Services, build_services
from coinbt.web import mount_web

DESCRIPTION = """\
Backtest crypto trading strategies on stored candles, one pair or hundreds in one call,
and read the market dashboard. Pairs are named by id or symbol, strategies by id or name.
Every error has one shape: `{"error": {"code", "message", "field", "hint"}}`.
"""


def create_app(settings: Settings) -> FastAPI:
    """The API over the store and cache ``settings`` name (opened when the app starts).

    ``settings.api_host`` is where the server listens: beyond loopback, admin routes need
    ``settings.api_key``."""
    http_metrics = HttpMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await run_in_threadpool(build_services, settings)
        try:
            schedule = await run_in_threadpool(
                lambda: start_schedule(settings, services.store, runner=services.collector)
            )
        except BaseException:
            await run_in_threadpool(services.close)
            raise
        app.state.services, app.state.schedule = services, schedule
        try:
            yield
        finally:
            app.state.services = app.state.schedule = None
            await run_in_threadpool(shutdown, services, schedule)

    app = FastAPI(
        title="coinbt",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        default_response_class=JSONBody,
    )
    app.state.settings = settings
    app.state.http_metrics = http_metrics
    app.state.services = None
    app.state.schedule = None
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    mount_web(app)  # the dashboard page at / and its assets under /static/
    app.add_middleware(CompressionMiddleware)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=http_metrics)
    return app


def shutdown(services: Services, schedule: CollectSchedule | None) -> None:
    """Stop collections (running ones are cancelled), then the schedule (waiting for its
    job, which the first step ended), then everything else."""
    try:
        services.collector.stop()
        if schedule is not None:
            schedule.stop(wait=True)
    finally:
        services.close()
