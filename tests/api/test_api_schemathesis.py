"""Property-based requests generated from the OpenAPI schema (schemathesis, in-process ASGI):
whatever a client sends, valid or not, the API never answers with a 5xx, only with status
codes it documents, and with bodies that fit the schema it publishes.

Random pair names almost never exist, so every other positive case is steered onto the
fixture's pairs and a real strategy: the backtest and candle paths then run with generated
dates, options and limits instead of stopping at a 404. The examples are bounded
(``MAX_EXAMPLES`` per operation and generation mode, derandomised) to stay well under a
minute. Collections the cases start go to the stand-in exchange, never to a real one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import seed
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from coinbt.api import create_app
from coinbt.config import load_settings
from support.collect_env import NOW
from support.fake_binance import FakeBinance, make_pairs

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
STRATEGY_KEYS = {"fast", "slow", "period", "initial_investment", "transaction_fee", "slippage"}


@pytest.fixture
def schema(tmp_path: Path) -> Iterator[Any]:
    """The schema of an app over a seeded DuckDB file; schemathesis runs its lifespan."""
    url = f"duckdb:///{tmp_path}/schema.db"
    seed(url)
    with FakeBinance(make_pairs(2, now_ms=NOW, days=3), now_ms=NOW) as exchange:
        settings = load_settings(
            database_url=url,
            cache_url="memory://",
            api_key=None,
            exchange_url=exchange.url,
            collect_rate_limit=False,
        )
        app = create_app(settings)
        try:
            yield schemathesis.openapi.from_asgi("/api/openapi.json", app)
        finally:
            schemathesis_asgi.shutdown_lifespans()  # closes the store before tmp_path goes


def steer(case: Any) -> None:
    """Point a generated case at pairs and a strategy that exist (parameters with other
    names would only be refused as unknown, so those are dropped)."""
    if case.path_parameters and "crypto" in case.path_parameters:
        case.path_parameters["crypto"] = "SOLUSDT"
    body = case.body
    if not isinstance(body, dict):
        return
    if "crypto_id" in body:
        body["crypto_id"] = "BTCUSDT"
    if isinstance(body.get("crypto_ids"), list):
        body["crypto_ids"] = ["BTCUSDT", "SOLUSDT", "USDCUSDT", 1]
    body["strategy_id"] = "sma_cross"
    for name in ("parameters", "options"):
        if isinstance(body.get(name), dict):
            body[name] = {k: v for k, v in body[name].items() if k in STRATEGY_KEYS}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_answers_fit_the_schema(schema: Any, mode: GenerationMode) -> None:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        calls = 0

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            if mode is GenerationMode.POSITIVE and calls % 2:
                steer(case)
            response = case.call_and_validate(checks=CHECKS)
            statuses.setdefault(case.operation.label, set()).add(response.status_code)

        try:
            check()
        except Unsatisfiable:  # nothing to make invalid: no parameters, no body
            assert mode is GenerationMode.NEGATIVE
    if mode is GenerationMode.POSITIVE:  # the steering reached the engine and the store
        assert 202 in statuses["POST /api/crypto/collect"]
        assert 200 in statuses["GET /api/crypto/{crypto}/gaps"]
        assert 200 in statuses["POST /api/crypto/backtest/run"]
        assert 200 in statuses["POST /api/crypto/backtest/batch"]
        assert 200 in statuses["GET /api/crypto/{crypto}/candles"]
