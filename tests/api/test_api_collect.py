"""Collection through the API, against the stand-in exchange on both store backends: the
route collects in the background and the dashboard, runs, status, health, gaps and metrics
show it; a second collection at the same time is refused with 409 (or waits, with
``wait``); the admin key guards it; a server stopping mid-run stops the run and records it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from api_support import assert_error, parse_metrics, start

from coinbt.config import load_settings
from coinbt.services.collect import OUTAGE_REASON
from coinbt.store import open_store
from support import collect_env
from support.collect_env import NOW, OUTAGE_PAIR, TRADING, advance, assert_exact, served_total
from support.fake_binance import DAY_MS, HOUR_MS, FakeBinance, Fault

server = collect_env.server
store_url = collect_env.store_url

COLLECT = "/api/crypto/collect"
STATUS = "/api/crypto/collect/status"
RUNS = "/api/crypto/collect/runs"
EXCHANGE_INFO = "/api/v3/exchangeInfo"


class Apps:
    """Apps over the test's store and the stand-in exchange; each closed at the end, or
    earlier with :meth:`stop` (to test what stopping does)."""

    def __init__(self, server: FakeBinance, url: str) -> None:
        self.server, self.url = server, url
        self.clients: list[Any] = []

    def make(self, **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "database_url": self.url,
            "cache_url": "memory://",
            "api_key": None,
            "exchange_url": self.server.url,
            "collect_rate_limit": False,
        }
        client = start(load_settings(**(values | overrides)))
        self.clients.append(client)
        return client

    def stop(self, client: Any) -> None:
        self.clients.remove(client)
        client.__exit__(None, None, None)

    def close(self) -> None:
        for client in reversed(self.clients):
            client.__exit__(None, None, None)


@pytest.fixture
def apps(server: FakeBinance, store_url: str) -> Iterator[Apps]:
    made = Apps(server, store_url)
    try:
        yield made
    finally:
        made.close()


def finished(client: Any, handle_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The collection's handle once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        handle = client.get(f"{COLLECT}/jobs/{handle_id}").json()
        if handle["state"] in ("done", "failed"):
            return dict(handle)
        time.sleep(0.05)
    pytest.fail(f"collection {handle_id} did not end in {timeout} s")


def test_the_route_collects_and_every_view_shows_it(apps: Apps, server: FakeBinance) -> None:
    client = apps.make()
    started = client.post(COLLECT, json={"mode": "full"})
    assert started.status_code == 202, started.text
    handle = started.json()
    assert started.headers["location"] == f"{COLLECT}/jobs/{handle['id']}"
    assert handle["state"] in ("running", "done") and handle["started_at"] is not None
    assert (handle["source"], handle["mode"], handle["symbols"]) == ("api", "full", None)
    assert (handle["intervals"], handle["quote"], handle["wait"]) == (["1h"], "USDT", False)

    done = finished(client, handle["id"])
    assert (done["state"], done["error"]) == ("done", None)
    run = done["run"]
    assert (run["kind"], run["status"], run["pairs"], run["gaps"], run["errors"]) == (
        "full", "ok", 4, 1, 0,
    )  # fmt: skip
    assert run["candles_added"] == served_total(server) and run["candles_revised"] == 0
    progress = done["progress"]
    assert progress["series_done"] == progress["series_total"] == len(TRADING)
    assert progress["candles_fetched"] >= run["candles_added"]
    with open_store(apps.url) as check:
        assert_exact(check, server)

    rows = client.get("/api/crypto/dashboard").json()
    assert sorted(r["symbol"] for r in rows) == sorted(TRADING)
    assert all(r["last_updated"] == NOW - NOW % HOUR_MS - HOUR_MS for r in rows)
    runs = client.get(RUNS).json()
    assert [r["id"] for r in runs] == [run["id"]]
    assert runs[0]["candles_added"] == run["candles_added"] and runs[0]["detail"]
    assert client.get(STATUS).json() == {"running": False, "active": [], "last_run": runs[0]}
    last = client.get("/api/health").json()["last_ingest"]
    assert last == {k: v for k, v in run.items() if k != "detail"}
    samples = parse_metrics(client.get("/api/metrics").text)
    assert samples[("coinbt_ingest_runs_total", (("kind", "full"), ("status", "ok")))] == 1
    assert samples[("coinbt_ingest_candles_total", (("kind", "full"),))] == run["candles_added"]

    outage = NOW - NOW % HOUR_MS - 30 * DAY_MS  # the stand-in's 5-hour outage of ETHUSDT
    gaps = client.get(f"/api/crypto/{OUTAGE_PAIR}/gaps", params={"interval": "1h"}).json()
    assert gaps["symbol"] == OUTAGE_PAIR and gaps["interval"] == "1h"
    assert gaps["gaps"] == [
        {"start": outage, "end": outage + 4 * HOUR_MS, "missing": 5, "known": True,
         "reason": OUTAGE_REASON},
    ]  # fmt: skip

    advance(server, 3)
    update = client.post(COLLECT, json={"mode": "update", "symbols": ["BTC/USDT"]})
    assert update.status_code == 202 and update.json()["symbols"] == ["BTC/USDT"]
    again = finished(client, update.json()["id"])["run"]
    assert (again["kind"], again["status"], again["pairs"], again["candles_added"]) == (
        "update", "ok", 1, 3,
    )  # fmt: skip
    after = {r["symbol"]: r for r in client.get("/api/crypto/dashboard").json()}
    assert after["BTCUSDT"]["last_updated"] == rows[0]["last_updated"] + 3 * HOUR_MS
    assert [r["kind"] for r in client.get(RUNS).json()] == ["update", "full"]
    assert [r["kind"] for r in client.get(RUNS, params={"kind": "full", "limit": 5}).json()] == [
        "full"
    ]


def test_a_second_collection_at_the_same_time_is_refused_or_waits(
    apps: Apps, server: FakeBinance
) -> None:
    client = apps.make()
    server.inject(Fault("delay", delay_s=1.5), path=EXCHANGE_INFO)  # keeps the first going
    first = client.post(COLLECT, json={"mode": "full"})
    assert first.status_code == 202 and first.json()["state"] == "running"
    refused = assert_error(client.post(COLLECT, json={"mode": "update"}), 409, "conflict")
    assert "another collection is running" in refused["message"]
    status = client.get(STATUS).json()
    assert status["running"] is True
    assert [h["id"] for h in status["active"]] == [first.json()["id"]]

    queued = client.post(COLLECT, json={"mode": "update", "wait": True})
    assert queued.status_code == 202 and queued.json()["state"] == "waiting"
    assert_error(client.post(COLLECT, json={"mode": "update", "wait": True}), 409, "conflict")

    one = finished(client, first.json()["id"])["run"]
    two = finished(client, queued.json()["id"])["run"]
    assert one["status"] == two["status"] == "ok"
    assert two["started_at"] >= one["finished_at"] and two["candles_added"] == 0
    assert [r["kind"] for r in client.get(RUNS).json()] == ["update", "full"]  # no refusal
    assert client.get(STATUS).json()["running"] is False


def test_collecting_needs_the_admin_key_when_it_is_set(apps: Apps) -> None:
    client = apps.make(api_key="s3cret")
    assert_error(client.post(COLLECT, json={"mode": "update"}), 401, "unauthorized")
    wrong = client.post(COLLECT, json={"mode": "update"}, headers={"X-API-Key": "nope"})
    assert_error(wrong, 401, "unauthorized")
    keyed = client.post(COLLECT, json={"mode": "update"}, headers={"X-API-Key": "s3cret"})
    assert keyed.status_code == 202
    assert finished(client, keyed.json()["id"])["state"] == "done"
    for path in (STATUS, RUNS, f"{COLLECT}/jobs/{keyed.json()['id']}"):
        assert client.get(path).status_code == 200  # reading stays open
    beyond = apps.make(api_host="0.0.0.0")
    assert_error(beyond.post(COLLECT, json={"mode": "update"}), 403, "forbidden")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "sometimes"}, "mode"),
        ({"symbols": []}, "symbols"),
        ({"symbols": ["BTC USDT"]}, "symbols.0"),
        ({"interval": "7h"}, "interval"),
        ({"quote": "US-DT"}, "quote"),
        ({"mode": "update", "extra": 1}, "extra"),
    ],
)
def test_bad_collection_requests_are_a_422(apps: Apps, body: dict[str, Any], field: str) -> None:
    client = apps.make()
    assert_error(client.post(COLLECT, json=body), 422, "invalid_input", field)
    assert client.get(RUNS).json() == []


def test_an_unknown_symbol_fails_the_collection_not_the_request(apps: Apps) -> None:
    client = apps.make()
    started = client.post(COLLECT, json={"symbols": ["NOPEUSDT"]})
    assert started.status_code == 202
    failed = finished(client, started.json()["id"])
    assert failed["state"] == "failed" and failed["run"] is None
    assert failed["error"]["code"] == "not_found" and "NOPEUSDT" in failed["error"]["message"]
    assert client.get(RUNS).json() == []  # nothing ran, nothing recorded
    assert_error(client.get(f"{COLLECT}/jobs/{'0' * 32}"), 404, "not_found")
    assert_error(client.get(f"{COLLECT}/jobs/nope"), 422, "invalid_input")


def test_stopping_the_server_stops_the_collection_and_records_it(
    apps: Apps, server: FakeBinance
) -> None:
    client = apps.make()
    server.inject(Fault("delay", delay_s=30), path=EXCHANGE_INFO)
    started = client.post(COLLECT, json={"mode": "full"})
    assert started.status_code == 202 and started.json()["state"] == "running"
    began = time.monotonic()
    apps.stop(client)
    assert time.monotonic() - began < 10  # cancelled, not waited for
    with open_store(apps.url) as check:
        (run,) = check.ingest_runs()
    assert (run.kind, run.status) == ("full", "failed")
    assert run.detail["failure"]["code"] == "CancelledError"
    again = apps.make()  # the lock was released: the next run goes ahead
    server.clear_faults()
    resumed = again.post(COLLECT, json={"mode": "full"})
    assert finished(again, resumed.json()["id"])["run"]["status"] == "ok"
