"""The collection schedule that ``coinbt serve`` runs in-process (APScheduler 3).

Two jobs, both configurable and off unless ``COINBT_COLLECT_SCHEDULE=true``:

- ``collect-update``: an update of the active pairs, by default hourly at minute 30
  (``COINBT_COLLECT_UPDATE_CRON="30 * * * *"``);
- ``collect-full``: a full collection, by default on Sunday at 02:00
  (``COINBT_COLLECT_FULL_CRON="0 2 * * sun"``).

Times are crontab fields in UTC; name weekdays (``sun``), since APScheduler 3 numbers them
from Monday = 0, unlike crontab. Each job is the same :func:`~coinbt.services.collect.collect`
as ``coinbt collect``, under the same store lock, so runs never overlap, whoever started
them: a scheduled update that finds a collection running is skipped (the next hour catches
up), a scheduled full collection waits for it (it comes once a week). A job never runs twice
at once and missed firings are coalesced into one.

Use from the server (which passes its :class:`~coinbt.services.collect_jobs.CollectRunner`,
so that scheduled runs show in its collection status and metrics)::

    schedule = start_schedule(settings, store, runner=runner)   # None when the setting is off
    ...
    if schedule is not None:
        schedule.stop()
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from coinbt.collector.exchange_types import ExchangeConfig
from coinbt.config import Settings
from coinbt.domain.market import IngestRun
from coinbt.errors import CoinbtError, ConfigurationError, ConflictError
from coinbt.services.collect import collect
from coinbt.services.collect_jobs import CollectRequest, CollectRunner
from coinbt.services.wiring import exchange_config as config_from_settings
from coinbt.store.base import MarketStore

logger = logging.getLogger(__name__)

UPDATE_JOB = "collect-update"
FULL_JOB = "collect-full"
_MISFIRE_GRACE_S = {"update": 10 * 60, "full": 6 * 3600}  # run late rather than not at all


@dataclass
class CollectJob:
    """What one scheduled job runs: a collection of ``mode`` with the server's settings
    (through ``runner`` when given, which then decides how the exchange is reached)."""

    store: MarketStore
    settings: Settings
    exchange: ExchangeConfig
    mode: str
    runner: CollectRunner | None = None

    def __call__(self) -> IngestRun | None:
        """Run the collection now; its record, or ``None`` when skipped or failed (a failed
        run is recorded in the store and logged, never raised into the scheduler)."""
        wait = self.mode == "full"
        try:
            if self.runner is not None:
                request = CollectRequest(
                    self.mode, None, tuple(intervals(self.settings)),
                    self.settings.collect_quote, wait,
                )  # fmt: skip
                return self.runner.run(request, source="schedule")
            return collect(
                self.store,
                self.exchange,
                mode=self.mode,
                quote=self.settings.collect_quote,
                intervals=intervals(self.settings),
                wait=wait,
            )
        except ConflictError:
            logger.info("scheduled %s skipped: another collection is running", self.mode)
        except CoinbtError as exc:
            logger.error("scheduled %s failed: %s", self.mode, exc)
        except asyncio.CancelledError:
            logger.warning("scheduled %s stopped: the server is stopping", self.mode)
        except Exception:
            logger.exception("scheduled %s failed unexpectedly", self.mode)
        return None


@dataclass
class CollectSchedule:
    """A handle on the running schedule."""

    scheduler: BackgroundScheduler

    def jobs(self) -> dict[str, Job]:
        """The scheduled jobs by id (``collect-update``, ``collect-full``)."""
        return {job.id: job for job in self.scheduler.get_jobs()}

    def run_now(self, job_id: str) -> IngestRun | None:
        """Run a job's collection at once in this thread (as the scheduler would)."""
        job: Any = self.jobs()[job_id]
        result: IngestRun | None = job.func()
        return result

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return bool(self.scheduler.running)

    def stop(self, *, wait: bool = True) -> None:
        """Stop firing jobs; with ``wait``, also wait for a running one to finish."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)


def cron_trigger(expression: str, *, setting: str = "cron") -> CronTrigger:
    """A UTC trigger from crontab fields; :class:`ConfigurationError` naming ``setting``."""
    try:
        return CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise ConfigurationError(
            f"invalid {setting} {expression!r}: {exc}",
            hint="five crontab fields in UTC, e.g. '30 * * * *' or '0 2 * * sun'",
        ) from None


def check_settings(settings: Settings) -> None:
    """:class:`ConfigurationError` naming the first schedule setting that cannot work (a
    cron, the exchange settings), before anything starts."""
    cron_trigger(settings.collect_update_cron, setting="COINBT_COLLECT_UPDATE_CRON")
    cron_trigger(settings.collect_full_cron, setting="COINBT_COLLECT_FULL_CRON")
    config_from_settings(settings)


def intervals(settings: Settings) -> list[str]:
    """The intervals COINBT_COLLECT_INTERVALS names (comma-separated)."""
    return [i.strip() for i in settings.collect_intervals.split(",") if i.strip()]


def build_schedule(
    settings: Settings,
    store: MarketStore,
    *,
    exchange: ExchangeConfig | None = None,
    runner: CollectRunner | None = None,
) -> CollectSchedule:
    """The schedule with both jobs, not started (whatever ``collect_schedule`` says); with
    ``runner`` the jobs run through it."""
    config = exchange if exchange is not None else config_from_settings(settings)
    scheduler = BackgroundScheduler(timezone="UTC")
    crons = {
        "update": (UPDATE_JOB, settings.collect_update_cron, "COINBT_COLLECT_UPDATE_CRON"),
        "full": (FULL_JOB, settings.collect_full_cron, "COINBT_COLLECT_FULL_CRON"),
    }
    for mode, (job_id, cron, setting) in crons.items():
        scheduler.add_job(
            CollectJob(store, settings, config, mode, runner),
            cron_trigger(cron, setting=setting),
            id=job_id,
            name=f"coinbt collect {mode}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=_MISFIRE_GRACE_S[mode],
        )
    return CollectSchedule(scheduler)


def start_schedule(
    settings: Settings,
    store: MarketStore,
    *,
    exchange: ExchangeConfig | None = None,
    runner: CollectRunner | None = None,
) -> CollectSchedule | None:
    """Start the collection schedule in background threads when ``collect_schedule`` is on;
    ``None`` (nothing started) when it is off. Stop it with :meth:`CollectSchedule.stop`
    before closing ``store``."""
    if not settings.collect_schedule:
        return None
    schedule = build_schedule(settings, store, exchange=exchange, runner=runner)
    schedule.scheduler.start()
    for job in schedule.jobs().values():
        logger.info("scheduled %s: next at %s", job.name, job.next_run_time)
    return schedule


__all__ = [
    "FULL_JOB",
    "UPDATE_JOB",
    "CollectJob",
    "CollectSchedule",
    "build_schedule",
    "check_settings",
    "cron_trigger",
    "intervals",
    "start_schedule",
]
