"""Shared helpers of the API tests: stores seeded with the real fixtures on both backends,
caches on both backends, and apps under a test client.

This is a plain module, not a ``conftest.py``: the test tree has no ``__init__.py`` files
and unit tests do ``from conftest import ...``, which a second conftest would shadow. Test
modules take the fixtures by assigning them (``api = api_support.api``).

* PostgreSQL: a database ``coinbt_test_api_<uuid>`` is created on the server at
  ``COINBT_TEST_POSTGRES_URL`` (default the maintenance database of user postgres on
  127.0.0.1:5432) for each seeded environment and dropped ``WITH (FORCE)`` afterwards. An
  unreachable server FAILS the tests: they never skip.
* Redis: the server at ``COINBT_TEST_REDIS_URL`` (default 127.0.0.1:6379/0), each cache
  under its own ``coinbt-test:<uuid>`` prefix whose keys are deleted afterwards. An
  unreachable server fails the tests too.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import redis
from psycopg import sql as pgsql

from coinbt.api import create_app
from coinbt.config import Settings, load_settings
from coinbt.domain.bars import Bars
from coinbt.store import open_store
from conftest import REAL_FILES, load_real

with warnings.catch_warnings():  # Starlette suggests httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

POSTGRES_URL = os.environ.get(
    "COINBT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("COINBT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_PREFIX = "coinbt_test_api_"
COMBOS = ("duckdb-memory", "duckdb-redis", "postgresql-memory", "postgresql-redis")
MAX_BATCH = 4
"""The seeded environments allow batches of at most this many pairs (the fixture has 4)."""


def fixture_bars() -> list[Bars]:
    """Every real fixture file (BTCUSDT 1d and 1h, BONKUSDT 1d, SOLUSDT and USDCUSDT 1h)."""
    return [load_real(name) for name in REAL_FILES]


# -- PostgreSQL ---------------------------------------------------------------------------------
def _admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"the API tests need PostgreSQL at {POSTGRES_URL} and it is not reachable: {exc}. "
            "Start it (trust auth for user postgres on 127.0.0.1:5432) or set "
            "COINBT_TEST_POSTGRES_URL; these tests never skip.",
            pytrace=False,
        )


def create_pg_database() -> str:
    """A new empty database; its URL."""
    name = f"{DB_PREFIX}{uuid.uuid4().hex}"
    with _admin() as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
    password = f":{info['password']}" if info.get("password") else ""
    host, port = info.get("host", "127.0.0.1"), info.get("port", 5432)
    return f"postgresql://{info.get('user', 'postgres')}{password}@{host}:{port}/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a database :func:`create_pg_database` made (and only such a one)."""
    name = url.rsplit("/", 1)[1]
    assert re.fullmatch(f"{DB_PREFIX}[0-9a-f]{{32}}", name), name
    with _admin() as conn:
        conn.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )


# -- Redis ----------------------------------------------------------------------------------
def redis_prefix() -> str:
    """A fresh key prefix on the test Redis (which must be up)."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"the API tests need Redis at {REDIS_URL} ({exc}); start redis-server or set "
            "COINBT_TEST_REDIS_URL; these tests never skip.",
            pytrace=False,
        )
    finally:
        client.close()
    return f"coinbt-test:{uuid.uuid4().hex}"


def drop_redis_prefix(prefix: str) -> None:
    """Delete every key under ``prefix`` (and nothing else)."""
    assert prefix.startswith("coinbt-test:")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# -- environments -----------------------------------------------------------------------------
@dataclass
class Env:
    """A running app (under a test client) over a seeded store."""

    combo: str
    client: TestClient
    settings: Settings

    @property
    def services(self) -> Any:
        return self.client.app.state.services  # type: ignore[attr-defined]


def seed(database_url: str) -> None:
    """Load every real fixture into the store at ``database_url``."""
    store = open_store(database_url)
    try:
        store.ingest(fixture_bars())
    finally:
        store.close()


def start(settings: Settings) -> TestClient:
    """A test client of a new app, its lifespan started."""
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    client.__enter__()
    return client


@pytest.fixture(scope="module", params=COMBOS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One app per store and cache backend, over a store seeded with the real fixtures.

    Shared by the tests of a module: tests that need a cache miss ask for something no other
    test asks for (their own parameters)."""
    backend, cache = str(request.param).split("-")
    if backend == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('api')}/api.db"
    else:
        url = create_pg_database()
    prefix = redis_prefix() if cache == "redis" else ""
    cache_url = f"{REDIS_URL}?prefix={prefix}" if prefix else "memory://"
    try:
        seed(url)
        settings = load_settings(
            database_url=url, cache_url=cache_url, max_batch_pairs=MAX_BATCH, api_key=None
        )
        client = start(settings)
        try:
            yield Env(str(request.param), client, settings)
        finally:
            client.__exit__(None, None, None)
    finally:
        if prefix:
            drop_redis_prefix(prefix)
        if backend == "postgresql":
            drop_pg_database(url)


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Any]:
    """Builds apps over a seeded DuckDB file with extra settings: ``duck(api_key="k")``."""
    url = f"duckdb:///{tmp_path}/duck.db"
    seed(url)
    clients: list[TestClient] = []

    def make(**overrides: Any) -> Env:
        values: dict[str, Any] = {"database_url": url, "cache_url": "memory://", "api_key": None}
        settings = load_settings(**{**values, **overrides})
        clients.append(start(settings))
        return Env("duckdb-memory", clients[-1], settings)

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


# -- response checks ------------------------------------------------------------------------------
def assert_error(
    response: Any, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The response is an error of the one shape with this status (and code, field)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field", "hint"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    return dict(error)


def parse_sse(text: str) -> list[dict[str, Any]]:
    """The events of a ``text/event-stream`` body: ``{"id", "event", "data"}`` each (data
    parsed as JSON); comment lines are skipped."""
    events: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if fields:
            events.append(
                {
                    "id": int(fields["id"]),
                    "event": fields["event"],
                    "data": json.loads(fields["data"]),
                }
            )
    return events


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def later_candles(bars: Bars, n: int) -> Bars:
    """``n`` valid candles following ``bars`` (flat at its last close), to ingest as news."""
    step = bars.interval.ms
    time = bars.time[-1] + step * np.arange(1, n + 1, dtype=np.int64)
    price = np.full(n, bars.close[-1])
    return Bars.from_arrays(bars.symbol, bars.interval, time, price, price, price, price, price)


_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Every sample of a Prometheus text exposition by (name, labels); fails on a line that
    is neither a sample, a ``# HELP`` / ``# TYPE`` line nor empty."""
    samples: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith(("# HELP ", "# TYPE ")):
            continue
        match = _SAMPLE.fullmatch(line)
        assert match is not None, f"not a Prometheus sample: {line!r}"
        name, raw_labels, value = match.groups()
        labels = tuple(_LABEL.findall(raw_labels or ""))
        samples[(name, labels)] = float(value)
    return samples
