"""The read-only routes on both stores and both caches: health, pairs, strategies, candles,
the dashboard and its movers, checked against the fixture candles themselves."""

from __future__ import annotations

import api_support
import pytest
from api_support import Env, assert_error, fixture_bars, parse_metrics

from coinbt.domain.market import DASHBOARD_FIELDS
from conftest import load_real

api = api_support.api

DAY = 86_400_000


def test_health_reports_store_and_cache(api: Env) -> None:
    body = api.client.get("/api/health").json()
    backend, cache = api.combo.split("-")
    assert body["status"] == "ok"
    assert body["store"] == {
        "status": "ok",
        "backend": backend,
        "schema_version": body["store"]["schema_version"],
    }
    assert body["cache"]["backend"] == cache and body["cache"]["status"] == "ok"
    assert body["engine_version"].startswith(body["version"])


def test_cryptocurrencies_list_every_pair_with_counts(api: Env) -> None:
    rows = api.client.get("/api/crypto/cryptocurrencies").json()
    by_symbol = {r["symbol"]: r for r in rows}
    assert sorted(by_symbol) == ["BONKUSDT", "BTCUSDT", "SOLUSDT", "USDCUSDT"]
    expected: dict[str, int] = {}
    for bars in fixture_bars():
        expected[bars.symbol] = expected.get(bars.symbol, 0) + len(bars)
    for symbol, row in by_symbol.items():
        assert row["candles"] == expected[symbol]
        assert (row["base"], row["quote"]) == (symbol.removesuffix("USDT"), "USDT")
        assert isinstance(row["crypto_id"], int)
    btc = load_real("BTCUSDT-1d.csv"), load_real("BTCUSDT-1h.csv")
    assert by_symbol["BTCUSDT"]["first_candle"] == int(btc[0].time[0])
    assert by_symbol["BTCUSDT"]["last_candle"] == int(max(btc[0].time[-1], btc[1].time[-1]))
    hourly = {s["interval"]: s for s in by_symbol["SOLUSDT"]["series"]}
    assert hourly["1h"]["candles"] == 2000 and hourly["1d"]["rollup"] is True


def test_cryptocurrencies_by_quote(api: Env) -> None:
    assert len(api.client.get("/api/crypto/cryptocurrencies?quote=usdt").json()) == 4
    assert api.client.get("/api/crypto/cryptocurrencies?quote=EUR").json() == []
    assert_error(api.client.get("/api/crypto/cryptocurrencies?quote=a;b"), 422, field="quote")


def test_strategies_catalogue_has_bounds(api: Env) -> None:
    strategies = api.client.get("/api/crypto/strategies").json()
    by_name = {s["name"]: s for s in strategies}
    assert {"buy_and_hold", "sma_cross", "rsi"} <= set(by_name)
    fast = next(p for p in by_name["sma_cross"]["parameters"] if p["name"] == "fast")
    assert fast["min"] <= fast["default"] <= fast["max"] and fast["kind"] == "int"
    assert [s["id"] for s in strategies] == sorted(s["id"] for s in strategies)


def test_candles_by_symbol_and_id_match_the_file(api: Env) -> None:
    bars = load_real("SOLUSDT-1h.csv")
    start, end = int(bars.time[100]), int(bars.time[150])
    got = api.client.get(
        "/api/crypto/solusdt/candles", params={"interval": "1h", "start": start, "end": end}
    ).json()
    assert got["count"] == 51 and got["symbol"] == "SOLUSDT"
    assert [c["time"] for c in got["candles"]] == bars.time[100:151].tolist()
    assert [c["close"] for c in got["candles"]] == bars.close[100:151].tolist()
    by_id = api.client.get(
        f"/api/crypto/{got['crypto_id']}/candles",
        params={"interval": "1h", "start": start, "end": end},
    ).json()
    assert by_id == got


def test_daily_candles_of_an_hourly_pair_come_from_rollups(api: Env) -> None:
    bars = load_real("SOLUSDT-1h.csv")
    day = (int(bars.time[0]) // DAY + 2) * DAY  # a whole day inside the file
    got = api.client.get(
        "/api/crypto/SOLUSDT/candles", params={"interval": "1d", "start": day, "end": day}
    ).json()
    rows = (bars.time >= day) & (bars.time < day + DAY)
    assert got["candles"] == [
        {
            "time": day,
            "open": float(bars.open[rows][0]),
            "high": float(bars.high[rows].max()),
            "low": float(bars.low[rows].min()),
            "close": float(bars.close[rows][-1]),
            "volume": pytest.approx(float(bars.volume[rows].sum()), rel=1e-12),
        }
    ]


def test_candles_errors(api: Env) -> None:
    c = api.client
    assert_error(c.get("/api/crypto/NOPEUSDT/candles"), 404, "not_found")
    assert_error(c.get("/api/crypto/999999/candles"), 404, "not_found")
    assert_error(c.get("/api/crypto/BTCUSDT/candles?interval=2h"), 422, field="interval")
    bad = c.get("/api/crypto/BTCUSDT/candles", params={"start": "2024-02-01", "end": "2024-01-01"})
    assert_error(bad, 422, "invalid_range", field="start_date")
    assert_error(c.get("/api/crypto/BTCUSDT/candles?start=yesterday"), 422, field="start_date")
    empty = c.get(
        "/api/crypto/BTCUSDT/candles", params={"start": "2000-01-01", "end": "2000-02-01"}
    )
    assert empty.status_code == 200 and empty.json()["candles"] == []


def test_dashboard_rows_sort_order_limit(api: Env) -> None:
    c = api.client
    rows = c.get("/api/crypto/dashboard").json()
    assert [r["symbol"] for r in rows] == ["BONKUSDT", "BTCUSDT", "SOLUSDT", "USDCUSDT"]
    assert all(tuple(r) == DASHBOARD_FIELDS for r in rows)
    sol = next(r for r in rows if r["symbol"] == "SOLUSDT")
    bars = load_real("SOLUSDT-1h.csv")
    assert sol["current_price"] == float(bars.close[-1])
    assert sol["last_updated"] == int(bars.time[-1])
    priced = c.get("/api/crypto/dashboard?sort=current_price&order=desc&limit=2").json()
    assert [r["symbol"] for r in priced] == ["BTCUSDT", "SOLUSDT"]
    assert_error(c.get("/api/crypto/dashboard?sort=colour"), 422, field="sort")
    assert_error(c.get("/api/crypto/dashboard?order=up"), 422, field="order")
    assert_error(c.get("/api/crypto/dashboard?limit=0"), 422, field="limit")


def test_top_gainers_and_losers(api: Env) -> None:
    rows = api.client.get("/api/crypto/dashboard").json()
    changes = sorted(
        (r["change_24h_percent"], r["symbol"]) for r in rows if r["change_24h_percent"] is not None
    )
    gainers = api.client.get("/api/crypto/dashboard/top-gainers?limit=2").json()
    losers = api.client.get("/api/crypto/dashboard/top-losers?limit=2").json()
    assert [r["symbol"] for r in gainers] == [s for _, s in changes[::-1][:2]]
    assert [r["symbol"] for r in losers] == [s for _, s in changes[:2]]
    assert_error(api.client.get("/api/crypto/dashboard/top-gainers?limit=-1"), 422, field="limit")


def test_admin_routes_on_loopback_without_key(api: Env) -> None:
    refreshed = api.client.post("/api/crypto/dashboard/refresh")
    assert refreshed.status_code == 200 and refreshed.json() == {"refreshed": 4}
    purged = api.client.post("/api/cache/purge")
    assert purged.status_code == 200 and purged.json()["backend"] == api.combo.split("-")[1]
    assert isinstance(purged.json()["purged"], int)


def test_unknown_route_and_method_use_the_error_shape(api: Env) -> None:
    assert_error(api.client.get("/api/nothing/here"), 404, "not_found")
    assert_error(api.client.delete("/api/health"), 405, "method_not_allowed")


def test_metrics_route_counts_requests(api: Env) -> None:
    api.client.get("/api/crypto/strategies")
    samples = parse_metrics(api.client.get("/api/metrics").text)
    labels = (("method", "GET"), ("route", "/api/crypto/strategies"), ("status", "200"))
    assert samples[("coinbt_http_requests_total", labels)] >= 1
    assert any(name == "coinbt_store_query_duration_seconds_count" for name, _ in samples)
    ratio = samples[("coinbt_cache_hit_ratio", (("backend", api.combo.split("-")[1]),))]
    assert 0.0 <= ratio <= 1.0
