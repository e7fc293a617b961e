"""Backtest routes on both stores and both caches: one run, batches in the seed's shape,
stored runs, the cache (hits, and misses once new candles arrive), and their errors.

Results are compared with the engine run directly on the same candles, read from the
fixture files with numpy (never through the store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import api_support
import numpy as np
import pytest
from api_support import MAX_BATCH, Env, assert_error, later_candles

import coinbt
from coinbt.config import load_settings
from coinbt.domain.results import METRIC_NAMES
from coinbt.domain.timeutil import parse_end, parse_time
from coinbt.services import runs
from conftest import load_real

api = api_support.api

RUN = "/api/crypto/backtest/run"
BATCH = "/api/crypto/backtest/batch"
SEED_SUMMARY = {
    "total_cryptocurrencies": int,
    "successful_backtests": int,
    "failed_backtests": int,
    "execution_time_seconds": float,
    "fetch_time_seconds": float,
    "parallel_execution": bool,
    "average_return": float,
    "best_performing": dict,
    "worst_performing": dict,
}


def run_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "crypto_id": "SOLUSDT",
        "strategy_id": "sma_cross",
        "parameters": {"fast": 8, "slow": 21, "initial_investment": 5000},
        "options": {"transaction_fee": 0.0005, "slippage": 0.0002},
        "start_date": "2026-03-01",
        "end_date": "2026-04-30",
        "interval": "1h",
    }
    return {**body, **changes}


def direct(symbol_file: str, params: dict[str, Any], start: str, end: str, **config: Any) -> Any:
    """The engine on the fixture candles in ``[start, end]``."""
    bars = load_real(symbol_file).slice_time(parse_time(start), parse_end(end))
    return coinbt.backtest(bars, "sma_cross", params=params, **config)


def test_run_matches_the_engine_on_the_same_candles(api: Env) -> None:
    got = api.client.post(RUN, json=run_body()).json()
    want = direct(
        "SOLUSDT-1h.csv", {"fast": 8, "slow": 21}, "2026-03-01", "2026-04-30",
        initial_investment=5000, transaction_fee=0.0005, slippage=0.0002,
    )  # fmt: skip
    assert list(got["metrics"]) == list(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert got["metrics"][name] == pytest.approx(want.metrics[name], rel=1e-12, abs=1e-12)
    assert got["equity_curve"]["time"] == want.time.tolist()
    np.testing.assert_allclose(got["equity_curve"]["equity"], want.equity, rtol=1e-12)
    assert len(got["trades"]) == len(want.trades)
    assert got["assumptions"]["transaction_fee"] == 0.0005
    assert got["assumptions"]["initial_investment"] == 5000
    assert got["symbol"] == "SOLUSDT" and got["strategy"] == "sma_cross" and got["strategy_id"] == 2
    assert isinstance(got["run_id"], int) and got["cached"] is False


def test_second_identical_run_is_a_cache_hit_with_the_same_stored_run(api: Env) -> None:
    body = run_body(parameters={"fast": 9, "slow": 40})
    first = api.client.post(RUN, json=body).json()
    second = api.client.post(RUN, json=body).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["run_id"] == first["run_id"]
    assert second["metrics"] == first["metrics"]
    assert second["equity_curve"] == first["equity_curve"]
    assert second["trades"] == first["trades"]
    stored = api.client.get(f"/api/crypto/backtest/runs/{first['run_id']}").json()
    assert stored["metrics"] == first["metrics"] and stored["symbol"] == "SOLUSDT"
    assert [t for t, _ in stored["equity"]] == first["equity_curve"]["time"]
    assert stored["spec"]["parameters"] == {"fast": 9, "slow": 40}


def test_repeated_runs_count_one_cache_lookup_each(api: Env) -> None:
    """A result asked again is answered from what is kept (on the event loop where the store
    remembers the data version and the cache is in-process) with exactly one cache lookup
    per request."""
    body = run_body(crypto_id="USDCUSDT", parameters={"fast": 7, "slow": 33}, start_date=None,
                    end_date=None)  # fmt: skip
    cache = api.services.cache
    before = cache.stats()
    answers = [api.client.post(RUN, json=body).json() for _ in range(4)]
    after = cache.stats()
    assert [a["cached"] for a in answers] == [False, True, True, True]
    assert answers[1:] == [answers[1]] * 3
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 1)
    found = runs.look_up_at_once(api.services.store, cache, "USDCUSDT", spec_of(body))
    at_once = api.combo == "duckdb-memory"  # PostgreSQL has other writers; Redis is I/O
    assert (found is not None and found.blob is not None) is at_once


def test_a_kept_answer_is_never_sent_after_new_candles(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'kept.db'}"
    api_support.seed(url)
    client = api_support.start(load_settings(database_url=url, cache_url="memory://"))
    try:
        body = run_body(crypto_id="USDCUSDT", start_date=None, end_date=None)
        body["parameters"] = {"fast": 6, "slow": 31}
        first, kept = (client.post(RUN, json=body).json() for _ in range(2))
        assert (first["cached"], kept["cached"]) == (False, True)
        services = client.app.state.services  # type: ignore[attr-defined]
        services.store.ingest(later_candles(load_real("USDCUSDT-1h.csv"), 24))
        store, cache = services.store, services.cache
        assert runs.look_up_at_once(store, cache, "USDCUSDT", spec_of(body)) is None
        fresh = client.post(RUN, json=body).json()
        assert fresh["cached"] is False and fresh["run_id"] != first["run_id"]
        assert fresh["assumptions"]["bars"] == first["assumptions"]["bars"] + 24
    finally:
        client.__exit__(None, None, None)


def spec_of(body: dict[str, Any]) -> runs.RunSpec:
    return runs.prepare_spec(
        body["strategy_id"],
        body["parameters"],
        body["options"],
        interval=body["interval"],
        start=body["start_date"],
        end=body["end_date"],
    )


def test_pairs_and_strategies_by_id_or_name_give_the_same_result(api: Env) -> None:
    pairs = api.client.get("/api/crypto/cryptocurrencies").json()
    sol = next(p["crypto_id"] for p in pairs if p["symbol"] == "SOLUSDT")
    body = run_body(parameters={"fast": 7, "slow": 33})
    by_name = api.client.post(RUN, json=body).json()
    by_id = api.client.post(RUN, json={**body, "crypto_id": sol, "strategy_id": 2}).json()
    by_text_id = api.client.post(RUN, json={**body, "crypto_id": str(sol)}).json()
    assert by_id["metrics"] == by_name["metrics"] == by_text_id["metrics"]
    assert by_id["cached"] and by_text_id["cached"]


def test_equity_curve_downsampled_on_request(api: Env) -> None:
    got = api.client.post(RUN, json=run_body(max_points=50)).json()
    full = api.client.post(RUN, json=run_body()).json()["equity_curve"]
    curve = got["equity_curve"]
    assert len(curve["time"]) == 50
    assert curve["time"][0] == full["time"][0] and curve["time"][-1] == full["time"][-1]
    assert set(curve["time"]) <= set(full["time"])
    lean = api.client.post(RUN, json=run_body(include_trades=False, include_equity=False)).json()
    assert "trades" not in lean and "equity_curve" not in lean
    stored = api.client.get(f"/api/crypto/backtest/runs/{got['run_id']}?max_points=10").json()
    assert len(stored["equity"]) == 10


def test_run_errors_name_the_field(api: Env) -> None:
    c = api.client
    assert_error(c.post(RUN, json=run_body(crypto_id="NOPEUSDT")), 404, "not_found", "crypto_id")
    assert_error(c.post(RUN, json=run_body(crypto_id=10**12)), 404, "not_found", "crypto_id")
    assert_error(
        c.post(RUN, json=run_body(strategy_id="nope")), 404, "unknown_strategy", "strategy_id"
    )
    high = run_body(parameters={"fast": 0, "slow": 21})
    assert_error(c.post(RUN, json=high), 422, "invalid_parameter", "parameters.fast")
    crossed = run_body(parameters={"fast": 30, "slow": 20})
    assert_error(c.post(RUN, json=crossed), 422, "invalid_parameter")
    assert_error(
        c.post(RUN, json=run_body(parameters={"colour": 1})), 422, field="parameters.colour"
    )
    assert_error(c.post(RUN, json=run_body(options={"slippage": 2})), 422, field="options.slippage")
    assert_error(
        c.post(RUN, json=run_body(options={"direction": "up"})), 422, field="options.direction"
    )
    assert_error(c.post(RUN, json=run_body(interval="2h")), 422, "invalid_input", "interval")
    assert_error(c.post(RUN, json=run_body(extra=1)), 422, "invalid_input", "extra")
    assert_error(c.post(RUN, json=run_body(parameters={"fast": [1]})), 422, field="parameters.fast")
    bad_json = c.post(RUN, content=b'{"crypto_id": ', headers={"Content-Type": "application/json"})
    assert_error(bad_json, 422, "invalid_input", "body")
    no_range = run_body(start_date="2000-01-01", end_date="2000-02-01")
    assert_error(c.post(RUN, json=no_range), 422, "invalid_range")
    for odd in ("²", "1e5", "99999999999999999999"):
        assert_error(c.post(RUN, json=run_body(start_date=odd)), 422, field="start_date")
    inverted = run_body(start_date="2026-05-01", end_date="2026-04-01")
    assert_error(c.post(RUN, json=inverted), 422, "invalid_range", "start_date")
    assert_error(c.get("/api/crypto/backtest/runs/987654321"), 404, "not_found")
    assert_error(c.get("/api/crypto/backtest/runs/0"), 422, field="run_id")


def seed_batch(**changes: Any) -> dict[str, Any]:
    """The seed report's batch request, on this fixture's pairs and dates."""
    body: dict[str, Any] = {
        "strategy_id": 2,
        "crypto_ids": ["BTCUSDT", "SOLUSDT", "USDCUSDT"],
        "parameters": {"initial_investment": 10000, "transaction_fee": 0.001},
        "interval": "1h",
        "use_parallel": True,
    }
    return {**body, **changes}


def test_batch_has_the_seed_shape_and_matches_the_engine(api: Env) -> None:
    got = api.client.post(BATCH, json=seed_batch()).json()
    assert list(got) == ["summary", "strategy", "results", "errors"]
    summary = got["summary"]
    assert list(summary) == list(SEED_SUMMARY)
    for name, kind in SEED_SUMMARY.items():
        assert isinstance(summary[name], kind), (name, summary[name])
    assert summary["total_cryptocurrencies"] == 3 and summary["successful_backtests"] == 3
    assert summary["failed_backtests"] == 0 and got["errors"] is None
    assert set(summary["best_performing"]) == {"crypto_id", "symbol", "return"}
    files = ["BTCUSDT-1h.csv", "SOLUSDT-1h.csv", "USDCUSDT-1h.csv"]
    want = coinbt.backtest_batch([load_real(f) for f in files], "sma_cross", transaction_fee=0.001)
    results = list(got["results"].values())
    assert [r["symbol"] for r in results] == list(want.symbols)
    for entry, result in zip(results, want.results, strict=True):
        assert str(entry["crypto_id"]) in got["results"]
        for name in METRIC_NAMES:
            assert entry["metrics"][name] == pytest.approx(
                result.metrics[name], rel=1e-12, abs=1e-12
            )
    returns = [r["metrics"]["total_return_pct"] for r in results]
    assert summary["average_return"] == pytest.approx(float(np.mean(returns)))
    best = max(results, key=lambda r: r["metrics"]["total_return_pct"])
    assert summary["best_performing"] == {
        "crypto_id": best["crypto_id"], "symbol": best["symbol"], "return": max(returns),
    }  # fmt: skip
    assert summary["worst_performing"]["return"] == min(returns)


def test_batch_reports_failed_pairs_without_failing_the_rest(api: Env) -> None:
    body = seed_batch(crypto_ids=["SOLUSDT", "NOPEUSDT", "BONKUSDT"], parameters={"fast": 6})
    got = api.client.post(BATCH, json=body).json()
    summary = got["summary"]
    assert (summary["successful_backtests"], summary["failed_backtests"]) == (1, 2)
    assert [r["symbol"] for r in got["results"].values()] == ["SOLUSDT"]
    errors = got["errors"]
    assert errors["NOPEUSDT"]["code"] == "not_found" and errors["NOPEUSDT"]["crypto_id"] is None
    bonk = next(e for e in errors.values() if e["symbol"] == "BONKUSDT")  # no hourly candles
    assert bonk["code"] == "invalid_range" and bonk["hint"]


def test_batch_all_and_quote_filter(api: Env) -> None:
    every = api.client.post(BATCH, json=seed_batch(crypto_ids="all", interval="1d")).json()
    assert every["summary"]["total_cryptocurrencies"] == 4  # SOL and USDC from their rollups
    assert every["summary"]["successful_backtests"] == 4
    hourly = api.client.post(BATCH, json=seed_batch(crypto_ids="all", quote="usdt")).json()
    assert hourly["summary"]["total_cryptocurrencies"] == 3  # BONKUSDT has no 1h candles
    none = api.client.post(BATCH, json=seed_batch(crypto_ids="all", quote="EUR"))
    assert_error(none, 422, "invalid_input", "crypto_ids")


def test_batch_size_limit_is_a_clear_422(api: Env) -> None:
    too_many = ["BTCUSDT", "SOLUSDT", "USDCUSDT", "BONKUSDT", "ETHUSDT"]
    assert len(too_many) > MAX_BATCH
    error = assert_error(api.client.post(BATCH, json=seed_batch(crypto_ids=too_many)), 422)
    assert error["field"] == "crypto_ids" and str(MAX_BATCH) in error["message"]
    assert "COINBT_MAX_BATCH_PAIRS" in error["hint"]
    assert_error(api.client.post(BATCH, json=seed_batch(crypto_ids=[])), 422, field="crypto_ids")
    assert_error(api.client.post(BATCH, json=seed_batch(crypto_ids=[0])), 422, field="crypto_ids.0")


def test_batch_uses_the_cache_per_pair_until_new_candles_arrive(api: Env) -> None:
    body = seed_batch(parameters={"fast": 12, "slow": 45}, use_parallel=False)
    first = api.client.post(BATCH, json=body).json()
    second = api.client.post(BATCH, json=body).json()
    assert [r["cached"] for r in first["results"].values()] == [False] * 3
    assert [r["cached"] for r in second["results"].values()] == [True] * 3
    assert second["results"] == {k: {**v, "cached": True} for k, v in first["results"].items()}
    run = run_body(crypto_id="USDCUSDT", parameters={"fast": 12, "slow": 45}, start_date=None,
                   end_date=None)  # fmt: skip
    assert api.client.post(RUN, json=run).json()["cached"] is False
    assert api.client.post(RUN, json=run).json()["cached"] is True

    api.services.store.ingest(later_candles(load_real("USDCUSDT-1h.csv"), 24))

    third = api.client.post(BATCH, json=body).json()
    cached = {r["symbol"]: r["cached"] for r in third["results"].values()}
    assert cached == {"BTCUSDT": True, "SOLUSDT": True, "USDCUSDT": False}
    usdc = next(r for r in third["results"].values() if r["symbol"] == "USDCUSDT")
    assert usdc["bars"] == 2024
    after = api.client.post(RUN, json=run).json()
    assert after["cached"] is False and after["assumptions"]["bars"] == 2024
