"""Batch progress as server-sent events, on both stores and both caches: one event per pair
and a final summary, increasing ids, and resuming after a Last-Event-ID."""

from __future__ import annotations

from typing import Any

import api_support
from api_support import Env, assert_error, parse_sse

api = api_support.api

BATCH = "/api/crypto/backtest/batch"


def batch_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "strategy_id": "rsi",
        "crypto_ids": ["BTCUSDT", "SOLUSDT", "USDCUSDT", "NOPEUSDT"],
        "parameters": {"period": 10},
        "interval": "1h",
        "stream": True,
    }
    return {**body, **changes}


def stream(api: Env, body: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    response = api.client.post(BATCH, json=body)
    assert response.status_code == 200, response.text
    return response, parse_sse(response.text)


def test_stream_sends_one_event_per_pair_then_the_summary(api: Env) -> None:
    response, events = stream(api, batch_body())
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in response.headers  # events are never held back
    names = [e["event"] for e in events]
    assert names == ["started", "pair", "pair", "pair", "pair", "summary"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    batch_id = response.headers["x-batch-id"]
    assert events[0]["data"] == {"batch_id": batch_id, "total_cryptocurrencies": 4}
    pairs = [e["data"] for e in events[1:-1]]
    ok = {p["symbol"]: p for p in pairs if p["ok"]}
    assert sorted(ok) == ["BTCUSDT", "SOLUSDT", "USDCUSDT"]
    assert all("total_return_pct" in p["metrics"] for p in ok.values())
    failed = [p for p in pairs if not p["ok"]]
    assert len(failed) == 1 and failed[0]["code"] == "not_found"
    summary = events[-1]["data"]
    assert summary["batch_id"] == batch_id
    assert summary["summary"]["successful_backtests"] == 3
    assert summary["summary"]["failed_backtests"] == 1
    assert set(summary["results"]) == {str(p["crypto_id"]) for p in ok.values()}


def test_stream_result_equals_the_plain_batch(api: Env) -> None:
    body = batch_body(parameters={"period": 12}, stream=False)
    plain = api.client.post(BATCH, json=body).json()
    _, events = stream(api, {**body, "stream": True})
    streamed = events[-1]["data"]
    assert streamed["results"] == {k: {**v, "cached": True} for k, v in plain["results"].items()}
    assert streamed["errors"] == plain["errors"]


def test_accept_header_asks_for_the_stream(api: Env) -> None:
    response = api.client.post(
        BATCH, json=batch_body(stream=False), headers={"Accept": "text/event-stream"}
    )
    assert [e["event"] for e in parse_sse(response.text)][-1] == "summary"


def test_resume_after_last_event_id_replays_only_later_events(api: Env) -> None:
    response, events = stream(api, batch_body(parameters={"period": 15}))
    batch_id = response.headers["x-batch-id"]
    url = f"{BATCH}/{batch_id}/events"
    resumed = parse_sse(api.client.get(url, headers={"Last-Event-ID": "2"}).text)
    assert resumed == [e for e in events if e["id"] > 2]
    assert parse_sse(api.client.get(url).text) == events
    assert parse_sse(api.client.get(f"{url}?after=4").text) == events[4:]
    assert parse_sse(api.client.get(url, headers={"Last-Event-ID": "99"}).text) == []


def test_resume_errors(api: Env) -> None:
    response, _ = stream(api, batch_body())
    url = f"{BATCH}/{response.headers['x-batch-id']}/events"
    bad = api.client.get(url, headers={"Last-Event-ID": "seven"})
    assert_error(bad, 422, "invalid_input", "Last-Event-ID")
    assert_error(api.client.get(f"{BATCH}/{'0' * 32}/events"), 404, "not_found", "batch_id")
    assert_error(api.client.get(f"{BATCH}/not-an-id/events"), 422, field="batch_id")


def test_stream_refuses_bad_requests_before_streaming(api: Env) -> None:
    assert_error(api.client.post(BATCH, json=batch_body(strategy_id="nope")), 404)
    assert_error(api.client.post(BATCH, json=batch_body(parameters={"period": 1})), 422)
