"""The app's life: the collection schedule started with the app and stopped with it (its
runs seen by the API), ``coinbt serve`` printing where to look, and the services' small
parts that keep hot answers encoded (never stale)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import later_candles, parse_metrics, seed, start

from coinbt.cli import main
from coinbt.config import load_settings
from coinbt.services.schedule import FULL_JOB, UPDATE_JOB
from conftest import load_real
from support import collect_env
from support.collect_env import TRADING
from support.fake_binance import FakeBinance

server = collect_env.server


@pytest.fixture
def scheduled(
    monkeypatch: pytest.MonkeyPatch, server: FakeBinance, tmp_path: Path
) -> Iterator[Any]:
    """An app started with COINBT_COLLECT_SCHEDULE=true (from the environment, as ``coinbt
    serve`` reads it) over an empty DuckDB file and the stand-in exchange."""
    monkeypatch.setenv("COINBT_COLLECT_SCHEDULE", "true")
    monkeypatch.setenv("COINBT_EXCHANGE_URL", server.url)
    monkeypatch.setenv("COINBT_COLLECT_RATE_LIMIT", "false")
    settings = load_settings(database_url=f"duckdb:///{tmp_path}/s.db", cache_url="memory://")
    assert settings.collect_schedule
    client = start(settings)
    try:
        yield client
    finally:
        client.__exit__(None, None, None)


def test_the_app_starts_the_schedule_and_stops_it_on_shutdown(scheduled: Any) -> None:
    app = scheduled.app
    schedule = app.state.schedule
    assert schedule is not None and schedule.running
    jobs = schedule.jobs()
    assert set(jobs) == {UPDATE_JOB, FULL_JOB}
    assert all(job.next_run_time is not None for job in jobs.values())
    assert jobs[UPDATE_JOB].next_run_time.minute == 30

    ran = schedule.run_now(UPDATE_JOB)  # what the trigger calls: through the server's runner
    assert ran is not None and (ran.kind, ran.status, ran.pairs) == ("update", "ok", 4)
    status = scheduled.get("/api/crypto/collect/status").json()
    assert status["last_run"]["id"] == ran.id and status["running"] is False
    symbols = [r["symbol"] for r in scheduled.get("/api/crypto/dashboard").json()]
    assert sorted(symbols) == sorted(TRADING)
    samples = parse_metrics(scheduled.get("/api/metrics").text)
    assert samples[("coinbt_ingest_runs_total", (("kind", "update"), ("status", "ok")))] == 1

    scheduled.__exit__(None, None, None)
    assert not schedule.running
    assert app.state.schedule is None and app.state.services is None
    scheduled.__enter__()  # for the fixture's exit; a new lifespan, a new schedule
    assert app.state.schedule is not None and app.state.schedule is not schedule


def test_without_the_setting_there_is_no_schedule(tmp_path: Path) -> None:
    client = start(load_settings(database_url=f"duckdb:///{tmp_path}/n.db", api_key=None))
    try:
        assert client.app.state.schedule is None  # type: ignore[attr-defined]
        assert client.get("/api/crypto/collect/status").json() == {
            "running": False,
            "active": [],
            "last_run": None,
        }
        assert client.get("/api/health").json()["last_ingest"] is None
    finally:
        client.__exit__(None, None, None)


# -- coinbt serve ----------------------------------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """``uvicorn.run`` replaced by a recorder: ``coinbt serve`` returns at once."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    monkeypatch.setenv("COINBT_DATABASE_URL", f"duckdb:///{tmp_path}/serve.db")
    for name in ("COINBT_API_KEY", "COINBT_COLLECT_SCHEDULE"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_serve_prints_the_page_and_the_docs(
    served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "8123"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123/\n" in out.replace(" \n", "\n")
    assert "http://127.0.0.1:8123/api/docs" in out
    assert "schedule" not in out
    assert served[0]["port"] == 8123 and served[0]["host"] == "127.0.0.1"
    assert main(["serve", "--host", "::1", "--port", "9"]) == 0
    assert "http://[::1]:9/api/docs" in capsys.readouterr().out


def test_serve_with_the_schedule_says_so_and_checks_it_first(
    served: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COINBT_COLLECT_SCHEDULE", "true")
    assert main(["serve"]) == 0
    assert "collection schedule on" in capsys.readouterr().out
    monkeypatch.setenv("COINBT_COLLECT_UPDATE_CRON", "every hour")
    assert main(["serve"]) != 0
    err = capsys.readouterr().err
    assert "COINBT_COLLECT_UPDATE_CRON" in err and "Traceback" not in err
    assert len(served) == 1  # the bad schedule never got to serving


# -- answers kept encoded ----------------------------------------------------------------------


def test_kept_answers_follow_new_candles_and_purges(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/kept.db"
    seed(url)
    client = start(load_settings(database_url=url, cache_url="memory://", api_key=None))
    try:
        services = client.app.state.services  # type: ignore[attr-defined]
        body = {"crypto_id": "USDCUSDT", "strategy_id": "sma_cross", "interval": "1h",
                "max_points": 100}  # fmt: skip
        first, second, third = (client.post("/api/crypto/backtest/run", json=body) for _ in "123")
        assert [r.json()["cached"] for r in (first, second, third)] == [False, True, True]
        assert second.content == third.content  # the kept body, byte for byte
        assert third.json() == {**first.json(), "cached": True}
        dashboard = client.get("/api/crypto/dashboard").content
        assert client.get("/api/crypto/dashboard").content == dashboard
        assert len(services.rendered) >= 2

        services.store.ingest(later_candles(load_real("USDCUSDT-1h.csv"), 5))
        fourth = client.post("/api/crypto/backtest/run", json=body).json()
        assert fourth["cached"] is False and fourth["run_id"] != first.json()["run_id"]
        rows = {r["symbol"]: r for r in client.get("/api/crypto/dashboard").json()}
        old = {r["symbol"]: r for r in json.loads(dashboard)}
        assert rows["USDCUSDT"]["last_updated"] == old["USDCUSDT"]["last_updated"] + 5 * 3_600_000

        assert client.post("/api/cache/purge").status_code == 200
        assert len(services.rendered) == 0
        fifth = client.post("/api/crypto/backtest/run", json=body).json()
        assert fifth["cached"] is False and fifth["run_id"] != fourth["run_id"]
    finally:
        client.__exit__(None, None, None)
