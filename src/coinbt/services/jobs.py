"""Background batch jobs and their progress events, for server-sent events.

A streamed batch runs in a worker thread as a :class:`BatchJob`. The work appends
:class:`JobEvent` s (``started``, one ``pair`` per finished pair, then ``summary``, or
``failed`` when the whole job broke); each event has an id, counting up from 1 within its
job, so a client that lost its connection asks for the events after the last id it saw
(the ``Last-Event-ID`` of the SSE protocol) and gets exactly those.

Finished jobs stay in the :class:`JobRegistry` for ``ttl_seconds`` so that late resumes
still find them; older ones, and the oldest beyond ``max_jobs``, are forgotten.

Listeners (:meth:`BatchJob.subscribe`) are plain callables run on the worker thread after
each event; an async server wakes its event loop from them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from coinbt.errors import CoinbtError, NotFoundError

logger = logging.getLogger(__name__)

Listener = Callable[[], None]


@dataclass(frozen=True)
class JobEvent:
    """One progress event: its id within the job, its name and its JSON-ready data."""

    id: int
    event: str
    data: dict[str, Any]


class BatchJob:
    """The events of one background job, readable while it runs and after it ended."""

    def __init__(self, job_id: str) -> None:
        self.id = job_id
        self._events: list[JobEvent] = []
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._done = False
        self._ended = threading.Event()
        self.finished_at: float | None = None

    def emit(self, event: str, data: dict[str, Any]) -> JobEvent:
        """Append an event and tell the listeners."""
        with self._lock:
            item = JobEvent(len(self._events) + 1, event, data)
            self._events.append(item)
        self._notify()
        return item

    def finish(self, now: float) -> None:
        """Mark the job ended (no more events); ``now`` is the registry clock."""
        with self._lock:
            self._done = True
            self.finished_at = now
        self._ended.set()
        self._notify()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (or ``timeout`` seconds pass); whether it ended."""
        return self._ended.wait(timeout)

    @property
    def done(self) -> bool:
        """True once the job has ended."""
        with self._lock:
            return self._done

    def events_after(self, last_id: int) -> tuple[list[JobEvent], bool]:
        """The events with an id above ``last_id``, and whether the job had ended when they
        were read (then no event can follow them)."""
        with self._lock:
            return self._events[max(0, last_id) :], self._done

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every new event and at the end; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:  # a listener of a client that left must not stop the job
                logger.debug("job %s: a listener failed", self.id, exc_info=True)


class JobRegistry:
    """Runs jobs on a small thread pool and keeps them, finished, for ``ttl_seconds``."""

    def __init__(
        self,
        *,
        ttl_seconds: float = 900.0,
        max_jobs: int = 256,
        workers: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_jobs = max_jobs
        self._clock = clock
        self._jobs: OrderedDict[str, BatchJob] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coinbt-job")

    def start(self, work: Callable[[BatchJob], None]) -> BatchJob:
        """Run ``work(job)`` in the background; the job, registered under a fresh id."""
        job = BatchJob(uuid.uuid4().hex)
        with self._lock:
            self._prune()
            self._jobs[job.id] = job
        self._pool.submit(self._run, work, job)
        return job

    def get(self, job_id: str) -> BatchJob:
        """A job by id; :class:`NotFoundError` when unknown or expired."""
        with self._lock:
            self._prune()
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"no batch job {job_id!r}",
                hint="batch jobs are kept for a while after they end; start the batch again",
                field="batch_id",
            )
        return job

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def close(self) -> None:
        """Drop queued jobs and wait for running ones (a batch takes about a second), so
        that the store they use is closed after them."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, work: Callable[[BatchJob], None], job: BatchJob) -> None:
        try:
            work(job)
        except CoinbtError as exc:
            job.emit("failed", {"error": exc.to_dict()})
        except Exception:
            logger.exception("batch job %s failed", job.id)
            job.emit("failed", {"error": {"code": "internal", "message": "the job failed"}})
        finally:
            job.finish(self._clock())

    def _prune(self) -> None:
        now = self._clock()
        for job_id, job in list(self._jobs.items()):
            ended = job.finished_at
            if ended is not None and now - ended > self._ttl:
                del self._jobs[job_id]
        while len(self._jobs) > self._max_jobs:
            oldest = next((j for j, job in self._jobs.items() if job.done), None)
            if oldest is None:
                break
            del self._jobs[oldest]
