"""Collections started by the API in the background, and tracked while they run.

``POST /api/crypto/collect`` must answer at once, yet never accept a collection that would
overlap another one. :meth:`CollectRunner.launch` runs
:func:`~coinbt.services.collect.collect` on a thread of its own and returns its
:class:`CollectHandle` as soon as the run holds the store's collection lock; when another
collection holds it (in this process or another: the lock is the store's), the request is
refused with the run's own :class:`~coinbt.errors.ConflictError`. A request that may wait
(``wait``) is accepted at once and waits for the lock in the background.

The schedule's runs go through :meth:`CollectRunner.run` in the scheduler's thread, so that
they too show in :meth:`CollectRunner.status` and in the metrics. Every run that ends with a
record (``ok``, ``partial`` or ``failed``) is counted with
:meth:`~coinbt.services.telemetry.Telemetry.record_ingest`.

:meth:`CollectRunner.stop` (when the server stops) refuses new runs and cancels those still
going: each is recorded as failed, keeping every batch it committed, and the next update
resumes from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coinbt.collector.exchange_types import ExchangeConfig
from coinbt.domain.market import IngestRun
from coinbt.errors import CoinbtError, ConflictError, NotFoundError, StoreUnavailableError
from coinbt.services.collect import PairProgress, check_request, collect_async
from coinbt.services.telemetry import Telemetry
from coinbt.store.base import MarketStore

logger = logging.getLogger(__name__)

ACTIVE_STATES = frozenset({"starting", "waiting", "running"})
"""A handle is ``starting`` (asking for the lock), ``waiting`` (for a running collection to
end, with ``wait``), ``running``, then ``done`` (its record says ok or partial) or
``failed``."""
SETTLE_SECONDS = 10.0
"""How long :meth:`CollectRunner.launch` waits for a run to take the lock or be refused."""
STOPPED = {
    "code": "stopped",
    "message": "the collection was stopped because the server is stopping",
    "hint": "what was stored is kept; the next update resumes from it",
}


def wall_ms() -> int:
    """Now, in UTC milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class CollectRequest:
    """What to collect: as ``coinbt collect`` takes it."""

    mode: str = "update"
    symbols: tuple[str, ...] | None = None
    intervals: tuple[str, ...] = ("1h",)
    quote: str = "USDT"
    wait: bool = False

    def check(self) -> None:
        """:class:`~coinbt.errors.InputError` naming what is wrong, before anything runs."""
        check_request(self.mode, self.symbols, self.intervals)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "mode": self.mode,
            "symbols": list(self.symbols) if self.symbols is not None else None,
            "intervals": list(self.intervals),
            "quote": self.quote,
            "wait": self.wait,
        }


class CollectHandle:
    """One collection started through the runner: its state, progress and outcome.

    Read it from any thread (:meth:`to_dict`); only the runner changes it."""

    def __init__(self, request: CollectRequest, source: str, now: int) -> None:
        self.id = uuid.uuid4().hex
        self.request = request
        self.source = source
        self.requested_at = now
        self.state = "waiting" if request.wait else "starting"
        self.started_at: int | None = None
        self.finished_at: int | None = None
        self.run: IngestRun | None = None
        self.error: dict[str, Any] | None = None
        self.exception: BaseException | None = None
        self._candles: dict[tuple[str, str], int] = {}
        self._series = (0, 0)  # done, total
        self._lock = threading.Lock()
        self._settled = threading.Event()  # no longer "starting"
        self._ended = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._stopping = False

    @property
    def active(self) -> bool:
        """True until the run is done or failed."""
        with self._lock:
            return self.state in ACTIVE_STATES

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (or ``timeout`` seconds pass); whether it ended."""
        return self._ended.wait(timeout)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the request, the state and times, progress, and the run's record
        (with its id) or the error once it ended."""
        with self._lock:
            done, total = self._series
            return {
                "id": self.id,
                "source": self.source,
                "state": self.state,
                **self.request.to_dict(),
                "requested_at": self.requested_at,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "progress": {
                    "series_done": done,
                    "series_total": total,
                    "candles_fetched": sum(self._candles.values()),
                },
                "run": self.run.to_dict() if self.run is not None else None,
                "error": self.error,
            }

    # -- what the runner does --------------------------------------------------------------

    def _attach(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        with self._lock:
            self._loop, self._task = loop, task
            stopping = self._stopping
        if stopping:
            task.cancel()

    def _stop(self) -> None:
        """Cancel the run (from any thread); it records itself as failed."""
        with self._lock:
            self._stopping = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed: the run is over
                loop.call_soon_threadsafe(task.cancel)

    def _started(self, now: int) -> None:
        with self._lock:
            self.state, self.started_at = "running", now
        self._settled.set()

    def _progress(self, step: PairProgress) -> None:
        with self._lock:
            self._candles[(step.symbol, step.interval)] = step.candles
            self._series = (step.done, step.total)

    def _recorded(self, run: IngestRun) -> None:
        with self._lock:
            self.run = run

    def _finish(self, now: int, error: BaseException | None = None) -> None:
        with self._lock:
            self.finished_at = now
            if error is None:
                self.state = "failed" if self.run and self.run.status == "failed" else "done"
            else:
                self.state, self.exception = "failed", error
                self.error = _describe(error)
        self._settled.set()
        self._ended.set()


class CollectRunner:
    """Starts and tracks collections over one store (see the module docs).

    ``exchange`` builds the exchange settings when a run starts (so a bad
    COINBT_EXCHANGE_URL fails the collection that needs it, not the server); ``keep`` is
    how many ended handles stay readable by id."""

    def __init__(
        self,
        store: MarketStore,
        exchange: Callable[[], ExchangeConfig],
        telemetry: Telemetry | None = None,
        *,
        keep: int = 20,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.store = store
        self._exchange = exchange
        self._telemetry = telemetry
        self._keep = keep
        self._clock = clock
        self._lock = threading.Lock()
        self._handles: OrderedDict[str, CollectHandle] = OrderedDict()
        self._threads: list[threading.Thread] = []
        self._stopped = False

    # -- starting runs -----------------------------------------------------------------------

    def launch(self, request: CollectRequest, *, timeout: float = SETTLE_SECONDS) -> CollectHandle:
        """Start a collection in the background; its handle once it holds the collection
        lock (``running``), or at once with ``wait`` (``waiting``). Raises what refused it:
        :class:`ConflictError` when another collection runs, :class:`InputError` for a bad
        request; after ``timeout`` seconds without an answer the handle is returned as it
        is (``starting``)."""
        handle = self.start(request)
        if request.wait:
            return handle
        handle._settled.wait(timeout)
        with handle._lock:
            refused = handle.state == "failed" and handle.started_at is None
        if refused and handle.exception is not None:
            with self._lock:
                self._handles.pop(handle.id, None)  # it never ran: nothing to look up later
            raise handle.exception
        return handle

    def start(self, request: CollectRequest, *, source: str = "api") -> CollectHandle:
        """Start a collection on a thread of its own; its handle at once."""
        request.check()
        with self._lock:
            self._refuse_when_stopped()
            if request.wait and any(
                h.source == source and h.state == "waiting" for h in self._handles.values()
            ):
                raise ConflictError(
                    "a collection is already waiting to run",
                    hint="wait for it (GET /api/crypto/collect/status) before queueing another",
                )
            handle = self._register(request, source)
            thread = threading.Thread(
                target=self._work, args=(handle,), name=f"coinbt-collect-{handle.id[:8]}"
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return handle

    def run(self, request: CollectRequest, *, source: str = "schedule") -> IngestRun:
        """Run a collection in this thread (the scheduler's); its record. Raises as
        :func:`~coinbt.services.collect.collect` does."""
        request.check()
        with self._lock:
            self._refuse_when_stopped()
            handle = self._register(request, source)
        return self._execute(handle)

    # -- reading -----------------------------------------------------------------------------

    def get(self, handle_id: str) -> CollectHandle:
        """A handle by id; :class:`NotFoundError` when unknown or long ended."""
        with self._lock:
            handle = self._handles.get(handle_id)
        if handle is None:
            raise NotFoundError(
                f"no collection {handle_id!r}",
                hint="only the latest collections of this server are kept; see "
                "GET /api/crypto/collect/runs for the recorded runs",
                field="collect_id",
            )
        return handle

    def active(self) -> list[CollectHandle]:
        """The handles not ended yet, oldest first."""
        with self._lock:
            handles = list(self._handles.values())
        return [h for h in handles if h.active]

    def status(self) -> dict[str, Any]:
        """Whether this server runs a collection now (``running``), the collections of
        this server not ended yet (``active``) and the latest recorded run, by anyone
        (``last_run``)."""
        active = [h.to_dict() for h in self.active()]
        latest = self.store.ingest_runs(limit=1)
        return {
            "running": any(h["state"] == "running" for h in active),
            "active": active,
            "last_run": latest[0].to_dict() if latest else None,
        }

    # -- stopping ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Refuse new runs and cancel those going (they record themselves as failed)."""
        with self._lock:
            self._stopped = True
            handles = list(self._handles.values())
        for handle in handles:
            handle._stop()

    def close(self, timeout: float = 30.0) -> None:
        """:meth:`stop`, then wait for the background runs to end (before the store they
        use is closed)."""
        self.stop()
        with self._lock:
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("collection thread %s did not stop in time", thread.name)

    # -- the work ----------------------------------------------------------------------------

    def _register(self, request: CollectRequest, source: str) -> CollectHandle:
        handle = CollectHandle(request, source, self._clock())
        self._handles[handle.id] = handle
        ended = [k for k, h in self._handles.items() if not h.active]
        for key in ended[: max(0, len(ended) - self._keep)]:
            del self._handles[key]
        return handle

    def _refuse_when_stopped(self) -> None:
        if self._stopped:
            raise StoreUnavailableError(
                "the server is stopping: no new collection starts",
                hint="start it again once the server is back",
            )

    def _work(self, handle: CollectHandle) -> None:
        try:
            self._execute(handle)
        except BaseException:  # kept on the handle (and logged there): the thread just ends
            return

    def _execute(self, handle: CollectHandle) -> IngestRun:
        try:
            run = asyncio.run(self._collect(handle))
        except BaseException as exc:
            _log_failure(handle, exc)
            handle._finish(self._clock(), exc)
            raise
        handle._finish(self._clock())
        return run

    async def _collect(self, handle: CollectHandle) -> IngestRun:
        task = asyncio.current_task()
        assert task is not None
        handle._attach(asyncio.get_running_loop(), task)
        r = handle.request
        return await collect_async(
            self.store,
            self._exchange(),
            mode=r.mode,
            symbols=r.symbols,
            quote=r.quote,
            intervals=r.intervals,
            progress=handle._progress,
            wait=r.wait,
            on_start=lambda: handle._started(self._clock()),
            on_record=lambda run: self._recorded(handle, run),
        )

    def _recorded(self, handle: CollectHandle, run: IngestRun) -> None:
        handle._recorded(run)
        if self._telemetry is not None:
            changed = run.candles_added + run.candles_revised
            self._telemetry.record_ingest(run.kind, run.status, changed)


def _describe(error: BaseException) -> dict[str, Any]:
    if isinstance(error, CoinbtError):
        return error.to_dict()
    if isinstance(error, asyncio.CancelledError):
        return dict(STOPPED)
    return {"code": "internal", "message": "the collection failed unexpectedly"}


def _log_failure(handle: CollectHandle, error: BaseException) -> None:
    what = f"collect {handle.request.mode} ({handle.source})"
    if isinstance(error, ConflictError):
        logger.info("%s refused: %s", what, error)
    elif isinstance(error, CoinbtError):
        logger.error("%s failed: %s", what, error)
    elif isinstance(error, asyncio.CancelledError):
        logger.warning("%s stopped: the server is stopping", what)
    else:
        logger.error("%s failed unexpectedly", what, exc_info=error)


__all__ = [
    "ACTIVE_STATES",
    "CollectHandle",
    "CollectRequest",
    "CollectRunner",
    "wall_ms",
]
