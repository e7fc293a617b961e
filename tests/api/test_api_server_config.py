"""What depends on how the server is configured, on DuckDB: compression, the admin key and
the loopback rule, a Redis that is down, unexpected errors, and the metrics of cache use."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import api_support
import brotli
import pytest
import redis
from api_support import assert_error, free_port, parse_metrics

duck = api_support.duck

RUN = "/api/crypto/backtest/run"
BATCH = "/api/crypto/backtest/batch"
ADMIN = ("/api/crypto/dashboard/refresh", "/api/cache/purge")


def run_body(**changes: Any) -> dict[str, Any]:
    body = {"crypto_id": "BTCUSDT", "strategy_id": "ema_cross", "interval": "1h"}
    return {**body, **changes}


@pytest.mark.parametrize("coding", ["br", "gzip"])
def test_large_bodies_are_compressed(duck: Any, coding: str) -> None:
    client = duck().client
    accept = "br, gzip" if coding == "br" else "gzip, deflate"
    response = client.get("/api/crypto/cryptocurrencies", headers={"Accept-Encoding": accept})
    assert response.headers["content-encoding"] == coding
    assert "accept-encoding" in response.headers["vary"].lower()
    raw = response.content  # httpx decodes br and gzip itself
    assert len(raw) >= 500
    streamed = client.stream(
        "GET", "/api/crypto/cryptocurrencies", headers={"Accept-Encoding": accept}
    )
    with streamed as wire:
        packed = b"".join(wire.iter_raw())
    unpack = brotli.decompress if coding == "br" else gzip.decompress
    assert unpack(packed) == raw
    assert int(wire.headers["content-length"]) == len(packed) < len(raw)


def test_no_compression_when_not_accepted_or_small(duck: Any) -> None:
    client = duck().client
    plain = client.get("/api/crypto/cryptocurrencies", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and len(plain.content) >= 500
    refused = client.get("/api/crypto/cryptocurrencies", headers={"Accept-Encoding": "br;q=0"})
    assert "content-encoding" not in refused.headers
    small = client.get("/api/crypto/dashboard?limit=1", headers={"Accept-Encoding": "br"})
    assert len(small.content) < 500 and "content-encoding" not in small.headers


def test_admin_routes_need_the_key_when_it_is_set(duck: Any) -> None:
    client = duck(api_key="s3cret").client
    for path in ADMIN:
        missing = assert_error(client.post(path), 401, "unauthorized")
        assert "X-API-Key" in missing["hint"]
        assert_error(client.post(path, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        assert client.post(path, headers={"X-API-Key": "s3cret"}).status_code == 200
        bearer = client.post(path, headers={"Authorization": "Bearer s3cret"})
        assert bearer.status_code == 200
    assert client.get("/api/crypto/dashboard").status_code == 200  # reads stay open


def test_admin_routes_are_refused_beyond_loopback_without_a_key(duck: Any) -> None:
    client = duck(api_host="0.0.0.0").client
    for path in ADMIN:
        error = assert_error(client.post(path), 403, "forbidden")
        assert "COINBT_API_KEY" in error["hint"]
    keyed = duck(api_host="0.0.0.0", api_key="k").client
    assert keyed.post(ADMIN[0], headers={"Authorization": "Bearer k"}).status_code == 200
    assert duck(api_host="::1").client.post(ADMIN[1]).status_code == 200


def test_redis_down_the_api_still_answers(duck: Any) -> None:
    env = duck(cache_url="redis://127.0.0.1:1/0?timeout=0.2&cooldown=30")
    client = env.client
    first = client.post(RUN, json=run_body())
    second = client.post(RUN, json=run_body())
    assert first.status_code == second.status_code == 200
    assert first.json()["cached"] is second.json()["cached"] is False
    batch = client.post(BATCH, json={"strategy_id": 2, "crypto_ids": "all", "interval": "1d"})
    assert batch.status_code == 200 and batch.json()["summary"]["successful_backtests"] == 4
    health = client.get("/api/health")
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert health.json()["cache"]["status"] == "down"
    assert_error(client.post("/api/cache/purge"), 503, "cache")
    samples = parse_metrics(client.get("/api/metrics").text)
    assert samples[("coinbt_cache_hits_total", (("backend", "redis"),))] == 0
    assert samples[("coinbt_cache_misses_total", (("backend", "redis"),))] >= 2


def test_redis_killed_mid_test_the_api_keeps_answering(duck: Any, tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("this test needs redis-server (apt-get install redis-server)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    server = subprocess.Popen(
        [*command, "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_redis(port)
        client = duck(cache_url=f"redis://127.0.0.1:{port}/0?timeout=0.2&cooldown=30").client
        assert client.post(RUN, json=run_body()).json()["cached"] is False
        assert client.post(RUN, json=run_body()).json()["cached"] is True
        server.kill()
        server.wait(10)
        after = client.post(RUN, json=run_body())
        assert after.status_code == 200 and after.json()["cached"] is False
        batch = client.post(BATCH, json={"strategy_id": 2, "crypto_ids": "all", "interval": "1d"})
        assert batch.status_code == 200
        assert client.get("/api/health").json()["status"] == "degraded"
    finally:
        server.kill()
        server.wait(10)


def wait_for_redis(port: int) -> None:
    probe = redis.Redis(port=port, socket_connect_timeout=0.2, socket_timeout=0.2)
    try:
        for _ in range(200):
            try:
                probe.ping()
                return
            except redis.RedisError:
                time.sleep(0.025)
        pytest.fail(f"redis-server on port {port} did not start")
    finally:
        probe.close()


def test_metrics_count_cache_hits_and_misses(duck: Any) -> None:
    client = duck().client
    for _ in range(3):
        assert client.post(RUN, json=run_body()).status_code == 200
    samples = parse_metrics(client.get("/api/metrics").text)
    memory = (("backend", "memory"),)
    assert samples[("coinbt_cache_hits_total", memory)] == 2
    assert samples[("coinbt_cache_misses_total", memory)] == 1
    assert samples[("coinbt_cache_hit_ratio", memory)] == pytest.approx(2 / 3)
    labels = (("method", "POST"), ("route", RUN), ("status", "200"))
    assert samples[("coinbt_http_requests_total", labels)] == 3
    bucket = (("method", "POST"), ("route", RUN), ("le", "+Inf"))
    assert samples[("coinbt_http_request_duration_seconds_bucket", bucket)] == 3
    read = (("operation", "read"),)
    assert samples[("coinbt_store_query_duration_seconds_count", read)] == 1
    assert ("coinbt_store_slow_queries_total", read) in samples


def test_ingest_runs_are_exposed(duck: Any) -> None:
    env = duck()
    env.services.telemetry.record_ingest("update", "ok", candles=194)
    env.services.telemetry.record_ingest("update", "failed")
    samples = parse_metrics(env.client.get("/api/metrics").text)
    assert samples[("coinbt_ingest_runs_total", (("kind", "update"), ("status", "ok")))] == 1
    assert samples[("coinbt_ingest_runs_total", (("kind", "update"), ("status", "failed")))] == 1
    assert samples[("coinbt_ingest_candles_total", (("kind", "update"),))] == 194


def test_unexpected_errors_are_a_bare_500(duck: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from coinbt.services import catalog

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(catalog, "list_pairs", broken)
    response = duck().client.get("/api/crypto/cryptocurrencies")
    error = assert_error(response, 500, "internal")
    assert "secret" not in response.text and error["hint"]


def test_openapi_and_docs_are_served(duck: Any) -> None:
    client = duck().client
    schema = client.get("/api/openapi.json").json()
    assert "/api/crypto/backtest/batch" in schema["paths"]
    example = schema["components"]["schemas"]["BatchBody"]["examples"][0]
    assert example["crypto_ids"] == [1, 2, 3, 4, 5]  # the seed's request
    assert "swagger" in client.get("/api/docs").text.lower()
