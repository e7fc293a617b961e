"""Server-sent events of a batch job (``text/event-stream``).

Each :class:`~coinbt.services.jobs.JobEvent` becomes::

    id: 3
    event: pair
    data: {"ok": true, "crypto_id": 7, "symbol": "ETHUSDT", "metrics": {...}, ...}

A client that lost the stream reconnects to ``GET /api/crypto/backtest/batch/{id}/events``
with ``Last-Event-ID`` (the last id it saw) and receives only the later events, then the
live ones while the job still runs. A comment line every 15 s keeps idle proxies from
closing the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from coinbt.api.responses import dumps
from coinbt.errors import InputError
from coinbt.services.jobs import BatchJob, JobEvent

KEEPALIVE_SECONDS = 15.0
MEDIA_TYPE = "text/event-stream"


def format_event(event: JobEvent) -> bytes:
    """One event in the wire format (``data`` is JSON on one line)."""
    return f"id: {event.id}\nevent: {event.event}\ndata: {dumps(event.data)}\n\n".encode()


def resume_point(last_event_id: str | None, after: int | None = None) -> int:
    """The id to resume after: the ``Last-Event-ID`` header, else the ``after`` query
    parameter, else 0 (from the start)."""
    if last_event_id is None or not last_event_id.strip():
        return after or 0
    text = last_event_id.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise InputError(
            f"Last-Event-ID must be an event id, not {last_event_id!r}",
            hint="send the id of the last event received",
            field="Last-Event-ID",
        )
    return int(text)


async def events(job: BatchJob, last_id: int) -> AsyncIterator[bytes]:
    """The job's events after ``last_id``, then live ones until it ends."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def wake_up() -> None:  # called on the job's worker thread
        loop.call_soon_threadsafe(wake.set)

    unsubscribe = job.subscribe(wake_up)
    try:
        while True:
            wake.clear()  # before reading, so an event emitted after the read wakes us
            fresh, done = job.events_after(last_id)
            for event in fresh:
                yield format_event(event)
                last_id = event.id
            if done:
                return
            if not fresh:
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
    finally:
        unsubscribe()


def stream(job: BatchJob, last_id: int = 0) -> StreamingResponse:
    """The streaming response of ``job`` from after ``last_id``."""
    headers = {
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",  # nginx: pass events on as they come
        "X-Batch-Id": job.id,
        "Content-Location": f"/api/crypto/backtest/batch/{job.id}/events",
    }
    return StreamingResponse(events(job, last_id), media_type=MEDIA_TYPE, headers=headers)
