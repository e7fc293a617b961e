"""The API under a real uvicorn on 127.0.0.1, started by ``coinbt serve`` in a subprocess
over a DuckDB file seeded with the real fixtures: health, a run, a streamed batch read as
it arrives, and concurrent requests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from coinbt.domain.bars import Bars
from coinbt.store import open_store

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
RUN = "/api/crypto/backtest/run"
BATCH = "/api/crypto/backtest/batch"


def load(name: str) -> Bars:
    import numpy as np

    symbol, interval = name.removesuffix(".csv").rsplit("-", 1)
    data = np.loadtxt(FIXTURES / name, delimiter=",", skiprows=1, ndmin=2)
    cols = [data[:, i] for i in range(1, 6)]
    return Bars.from_arrays(symbol, interval, data[:, 0].astype(np.int64), *cols)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running ``coinbt serve``; the process is stopped afterwards."""
    folder = tmp_path_factory.mktemp("server")
    url = f"duckdb:///{folder}/server.db"
    store = open_store(url)
    store.ingest([load(p.name) for p in sorted(FIXTURES.glob("*.csv"))])
    store.close()
    port = free_port()
    env = {**os.environ, "COINBT_DATABASE_URL": url, "COINBT_CACHE_URL": "memory://"}
    env.pop("COINBT_API_KEY", None)
    log = (folder / "server.log").open("w")
    command = [sys.executable, "-m", "coinbt.cli", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, folder / "server.log")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"coinbt serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"coinbt serve did not answer within 60 s:\n{log.read_text()}")


def test_health(server: str) -> None:
    body = httpx.get(f"{server}/api/health").json()
    assert body["status"] == "ok" and body["store"]["backend"] == "duckdb"


def test_run_then_cached(server: str) -> None:
    body = {"crypto_id": "SOLUSDT", "strategy_id": "sma_cross", "interval": "1h", "max_points": 20}
    with httpx.Client(base_url=server, headers={"Accept-Encoding": "br"}) as client:
        first = client.post(RUN, json=body)
        second = client.post(RUN, json=body)
    assert first.status_code == second.status_code == 200
    assert first.headers["content-encoding"] == "br"
    assert (first.json()["cached"], second.json()["cached"]) == (False, True)
    assert len(first.json()["equity_curve"]["time"]) == 20


def read_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Events as they arrive on the wire."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if fields:
                yield {"id": int(fields["id"]), "event": fields["event"],
                       "data": json.loads(fields["data"])}  # fmt: skip
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def test_streamed_batch_arrives_event_by_event(server: str) -> None:
    body = {"strategy_id": "rsi", "crypto_ids": "all", "interval": "1d", "stream": True}
    seen: list[dict[str, Any]] = []
    with (
        httpx.Client(base_url=server, timeout=30) as client,
        client.stream("POST", BATCH, json=body) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in read_events(response):
            seen.append(event)
            if event["event"] == "started":
                # the first event is here while the stream is still open
                assert not response.is_closed
    assert [e["event"] for e in seen] == ["started", "pair", "pair", "pair", "pair", "summary"]
    assert [e["id"] for e in seen] == [1, 2, 3, 4, 5, 6]
    assert seen[-1]["data"]["summary"]["successful_backtests"] == 4
    batch_id = seen[0]["data"]["batch_id"]
    replay = httpx.get(
        f"{server}{BATCH}/{batch_id}/events", headers={"Last-Event-ID": "4"}, timeout=10
    )
    assert [e["id"] for e in read_events(replay)] == [5, 6]


def test_concurrent_requests_all_succeed(server: str) -> None:
    requests: list[tuple[str, str, dict[str, Any] | None]] = []
    for i in range(20):
        if i % 4 == 0:
            requests.append(("GET", "/api/crypto/dashboard", None))
        elif i % 4 == 1:
            requests.append(("GET", "/api/crypto/BTCUSDT/candles?interval=1h", None))
        elif i % 4 == 2:
            run = {"crypto_id": "BTCUSDT", "strategy_id": "sma_cross", "interval": "1h",
                   "parameters": {"fast": 5 + i, "slow": 60}, "max_points": 50}  # fmt: skip
            requests.append(("POST", RUN, run))
        else:
            batch = {"strategy_id": "macd", "crypto_ids": "all", "interval": "1d"}
            requests.append(("POST", BATCH, batch))
    with (
        httpx.Client(base_url=server, timeout=60) as client,
        ThreadPoolExecutor(max_workers=20) as pool,
    ):
        answers = list(pool.map(lambda r: client.request(r[0], r[1], json=r[2]), requests))
    assert [a.status_code for a in answers] == [200] * 20, [a.text[:200] for a in answers]
    runs = [a.json()["run_id"] for a, r in zip(answers, requests, strict=True) if r[1] == RUN]
    assert len(set(runs)) == len(runs)  # every distinct run stored once
