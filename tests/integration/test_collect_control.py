"""Running collections: one at a time (threads and processes), ``coinbt collect`` end to end
in-process, and the schedule of ``coinbt serve``; against the stand-in exchange and each
store backend."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from coinbt.cli import main
from coinbt.config import Settings, load_settings
from coinbt.domain.market import IngestRun
from coinbt.errors import ConfigurationError, ConflictError
from coinbt.services.collect import PairProgress, collect
from coinbt.services.schedule import (
    FULL_JOB,
    UPDATE_JOB,
    build_schedule,
    cron_trigger,
    start_schedule,
)
from coinbt.store import SqlStore, open_store
from support import collect_env
from support.collect_env import TRADING, advance, assert_exact, exchange
from support.fake_binance import FakeBinance, Fault

server = collect_env.server
store_url = collect_env.store_url
store = collect_env.store


# -- one collection at a time --------------------------------------------------------------


class Held:
    """Runs a collection in a thread that stops at its first page until released."""

    def __init__(self, store: SqlStore, server: FakeBinance) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.result: list[IngestRun] = []

        def pause(step: PairProgress) -> None:
            if step.state == "page" and not self.entered.is_set():
                self.entered.set()
                assert self.release.wait(20)

        def run() -> None:
            self.result.append(collect(store, exchange(server), mode="full", progress=pause))

        self.thread = threading.Thread(target=run)

    def __enter__(self) -> Held:
        self.thread.start()
        assert self.entered.wait(20), "the first run never got going"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(30)


def test_a_second_run_at_the_same_time_is_refused(server: FakeBinance, store: SqlStore) -> None:
    with Held(store, server) as first:
        with pytest.raises(ConflictError, match="another collection is running") as refused:
            collect(store, exchange(server), mode="update")
        assert "--wait" in refused.value.hint
    assert first.result[0].status == "ok"
    assert [r.id for r in store.ingest_runs()] == [first.result[0].id]  # nothing recorded
    assert_exact(store, server)


def test_a_second_run_can_wait_for_the_first(server: FakeBinance, store: SqlStore) -> None:
    waited: list[IngestRun] = []
    with Held(store, server) as first:
        second = threading.Thread(
            target=lambda: waited.append(collect(store, exchange(server), wait=True))
        )
        second.start()
        second.join(0.5)
        assert second.is_alive()  # still waiting for the lock
    second.join(30)
    assert waited[0].status == "ok" and waited[0].started_at >= first.result[0].finished_at
    assert waited[0].candles_added == 0  # the first run had collected everything


_HOLDER = """
import sys
from coinbt.store import open_store
with open_store(sys.argv[1]) as store, store.exclusive("collect") as held:
    print(held, flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from collect_env.postgres_database()


def test_a_run_in_another_process_is_respected(server: FakeBinance, postgres_url: str) -> None:
    # PostgreSQL only: another process cannot even open a DuckDB file this one has open.
    with open_store(postgres_url) as mine:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, postgres_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
            with pytest.raises(ConflictError):
                collect(mine, exchange(server), mode="update")
        finally:
            holder.communicate("\n", timeout=30)
        assert collect(mine, exchange(server), mode="update").status == "ok"


# -- coinbt collect --------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, server: FakeBinance, store_url: str) -> str:
    monkeypatch.setenv("COINBT_EXCHANGE_URL", server.url)
    monkeypatch.setenv("COINBT_DATABASE_URL", store_url)
    monkeypatch.setenv("COINBT_COLLECT_RATE_LIMIT", "false")
    return store_url


def test_coinbt_collect_end_to_end(
    cli_env: str, server: FakeBinance, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "full", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["kind"], record["status"], record["pairs"], record["gaps"]) == (
        "full",
        "ok",
        4,
        1,
    )
    advance(server, 3)
    assert main(["collect", "update", "--symbols", "BTCUSDT,ETHUSDT", "--interval", "1h"]) == 0
    out = capsys.readouterr().out
    assert "candles added" in out and " 6 " in out and "status" in out
    with open_store(cli_env) as check:
        assert_exact(check, server, ("BTCUSDT", "ETHUSDT"))
        assert [r.kind for r in check.ingest_runs()] == ["update", "full"]


@pytest.mark.parametrize(
    "argv",
    [
        ["collect", "update", "--interval", "7h"],
        ["collect", "update", "--symbols", "NOPEUSDT"],
        ["collect", "update", "--symbols", ","],
        ["collect", "sometimes"],
    ],
    ids=["interval", "symbol", "empty", "mode"],
)
def test_coinbt_collect_bad_input_exits_2(
    cli_env: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


def test_coinbt_collect_banned_exits_1_with_the_record(
    cli_env: str, server: FakeBinance, capsys: pytest.CaptureFixture[str]
) -> None:
    server.inject(Fault("status", 418, retry_after=600))
    assert main(["collect", "full", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "failed"
    assert "banned this IP" in err and "hint: stop now" in err


# -- the schedule --------------------------------------------------------------------------


def settings_for(server: FakeBinance, url: str, **overrides: object) -> Settings:
    return load_settings(
        database_url=url, exchange_url=server.url, collect_rate_limit=False, **overrides
    )


def test_the_schedule_registers_both_jobs_with_their_triggers(
    server: FakeBinance, tmp_path: Path
) -> None:
    settings = settings_for(
        server, f"duckdb:///{tmp_path}/s.db", collect_update_cron="15 * * * *",
        collect_full_cron="0 3 * * sat",
    )  # fmt: skip
    with open_store(f"duckdb:///{tmp_path}/s.db") as store:
        assert start_schedule(settings, store) is None  # off by default
        schedule = build_schedule(settings, store)
        jobs = schedule.jobs()
        assert set(jobs) == {UPDATE_JOB, FULL_JOB}
        assert str(jobs[UPDATE_JOB].trigger) == str(cron_trigger("15 * * * *"))
        assert str(jobs[FULL_JOB].trigger) == str(cron_trigger("0 3 * * sat"))
        for job in jobs.values():
            assert (job.max_instances, job.coalesce) == (1, True)
            assert str(job.trigger.timezone) == "UTC"


def test_the_default_schedule_starts_and_stops(server: FakeBinance, tmp_path: Path) -> None:
    settings = settings_for(server, f"duckdb:///{tmp_path}/s.db", collect_schedule=True)
    with open_store(f"duckdb:///{tmp_path}/s.db") as store:
        schedule = start_schedule(settings, store)
        assert schedule is not None and schedule.running
        jobs = schedule.jobs()
        update, full = jobs[UPDATE_JOB].next_run_time, jobs[FULL_JOB].next_run_time
        assert (update.minute, update.second) == (30, 0)
        assert (full.strftime("%a %H:%M"), full.utcoffset().total_seconds()) == ("Sun 02:00", 0)
        schedule.stop()
        assert not schedule.running


def test_a_scheduled_job_runs_a_collection_and_skips_when_one_is_running(
    server: FakeBinance, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with open_store(store_url) as store:
        schedule = build_schedule(settings_for(server, store_url), store)
        ran = schedule.run_now(UPDATE_JOB)  # what the trigger calls
        assert ran is not None and ran.kind == "update" and ran.status == "ok"
        assert_exact(store, server, TRADING)
        caplog.set_level(logging.INFO, logger="coinbt.services.schedule")
        with store.exclusive("collect") as held:
            assert held and schedule.run_now(UPDATE_JOB) is None
        assert "skipped: another collection is running" in caplog.text


def test_an_invalid_cron_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="COINBT_COLLECT_FULL_CRON"):
        cron_trigger("every sunday", setting="COINBT_COLLECT_FULL_CRON")
