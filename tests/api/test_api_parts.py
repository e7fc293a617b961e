"""The API's small parts on their own: content negotiation, the job registry behind SSE
resumes, the Prometheus histogram, and the cache codec of a run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from coinbt.api.compression import CompressedBodies, choose_encoding, compress
from coinbt.api.responses import JSONBody
from coinbt.errors import InputError, NotFoundError
from coinbt.services import runs
from coinbt.services.jobs import BatchJob, JobRegistry
from coinbt.services.rendered import RenderMemo
from coinbt.services.telemetry import Histogram
from conftest import load_real


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        ("br", "br"),
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0, gzip;q=0.5", "gzip"),
        ("*", "br"),
        ("*;q=0", None),
        ("identity", None),
        ("", None),
        ("gzip;q=zero", None),
    ],
)
def test_choose_encoding(header: str, coding: str | None) -> None:
    assert choose_encoding(header) == coding


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def finished_job(registry: JobRegistry, events: int) -> BatchJob:
    def work(job: BatchJob) -> None:
        for i in range(events):
            job.emit("pair", {"i": i})

    job = registry.start(work)
    assert job.wait(5)
    return job


def test_jobs_replay_events_after_an_id_and_expire() -> None:
    clock = Clock()
    registry = JobRegistry(ttl_seconds=60, clock=clock)
    try:
        job = finished_job(registry, 5)
        events, done = job.events_after(2)
        assert done and [e.id for e in events] == [3, 4, 5]
        assert [e.data["i"] for e in events] == [2, 3, 4]
        assert registry.get(job.id) is job
        clock.now += 61
        with pytest.raises(NotFoundError):
            registry.get(job.id)
    finally:
        registry.close()


def test_a_failing_job_ends_with_a_failed_event() -> None:
    registry = JobRegistry()
    try:

        def work(job: BatchJob) -> None:
            job.emit("started", {})
            raise InputError("bad", hint="fix it")

        job = registry.start(work)
        registry.close()  # waits for the job
        events, done = job.events_after(0)
        assert done and [e.event for e in events] == ["started", "failed"]
        assert events[-1].data["error"]["code"] == "invalid_input"
    finally:
        registry.close()


def test_registry_keeps_at_most_max_jobs_finished() -> None:
    registry = JobRegistry(max_jobs=2)
    try:
        jobs = [finished_job(registry, 1) for _ in range(4)]
        registry.start(lambda job: None)
        assert len(registry) <= 3
        with pytest.raises(NotFoundError):
            registry.get(jobs[0].id)
    finally:
        registry.close()


def test_histogram_is_cumulative() -> None:
    hist = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        hist.observe(value)
    assert hist.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert hist.count == 4 and hist.total == pytest.approx(3.65)


def test_json_body_writes_non_finite_floats_as_null() -> None:
    body: Any = JSONBody({"a": [1.5, float("nan")], "b": {"c": float("inf")}}).body
    assert body == b'{"a":[1.5,null],"b":{"c":null}}'


def test_cached_run_round_trips_and_garbage_is_a_miss() -> None:
    spec = runs.prepare_spec("sma_cross", {"fast": 5, "slow": 20}, interval="1h")
    result = runs.run_engine([load_real("SOLUSDT-1h.csv")], spec).results[0]
    from coinbt.domain.trades import trades_to_dicts

    trades = trades_to_dicts(result.trades)
    run_id, back, back_trades = runs.decode_run(runs.encode_run(7, result, trades), spec) or (
        0,
        None,
        [],
    )
    assert run_id == 7 and back is not None and back_trades == trades
    assert back.metrics == result.metrics and back.symbol == "SOLUSDT"
    np.testing.assert_array_equal(back.equity, result.equity)
    np.testing.assert_array_equal(back.time, result.time)
    assert runs.decode_run(b"cbr1 nonsense", spec) is None
    assert runs.decode_run(b"{}", spec) is None


@pytest.mark.parametrize(
    ("raw", "key"),
    [(5, 5), ("5", 5), (" btcusdt ", "BTCUSDT"), ("ETH-USD.X_1", "ETH-USD.X_1")],
)
def test_pair_keys(raw: int | str, key: int | str) -> None:
    assert runs.pair_key(raw) == key


@pytest.mark.parametrize("raw", [0, -3, 2**63, "", "a b", "x" * 41, "²", "BTC\x00USDT"])
def test_impossible_pair_keys_are_unknown_pairs(raw: int | str) -> None:
    with pytest.raises(NotFoundError):
        runs.pair_key(raw)


def test_render_memo_answers_only_for_an_equal_source_and_stays_bounded() -> None:
    memo = RenderMemo(max_entries=2, max_bytes=100)
    rows = [("a", 1.0), ("b", 2.0)]
    memo.put("k", rows, b"[1]")
    assert memo.get("k", rows) == b"[1]"
    assert memo.get("k", [("a", 1.0), ("b", 2.0)]) == b"[1]"  # equal, other objects
    assert memo.get("k", [("a", 1.5), ("b", 2.0)]) is None  # changed: encode again
    assert memo.get("other", rows) is None
    memo.put("blob", b"x" * 40, b"y" * 40)  # bytes sources count towards the budget
    memo.put("third", rows, b"z")
    assert len(memo) == 2 and memo.get("k", rows) is None  # the least recently used went
    memo.put("huge", rows, b"h" * 101)
    assert memo.get("huge", rows) is None
    assert memo.clear() == 2 and len(memo) == 0


def test_compressed_bodies_are_remembered_by_content() -> None:
    kept = CompressedBodies(max_entries=2, max_bytes=10_000, max_body=1_000)
    body = b'{"a":' + b"1" * 600 + b"}"
    packed = compress(body, "br")
    kept.put("br", body, packed)
    assert kept.get("br", bytes(bytearray(body))) == packed  # an equal body, another object
    assert kept.get("gzip", body) is None
    assert kept.get("br", body[:-1] + b"]") is None
    kept.put("br", b"x" * 2_000, b"y")  # larger than one body may be: not kept
    assert kept.get("br", b"x" * 2_000) is None and len(kept) == 1


def test_a_cached_run_answer_is_what_encoding_the_outcome_gives(tmp_path: Any) -> None:
    from coinbt.cache import open_cache
    from coinbt.services.encoding import encode
    from coinbt.store import open_store

    store = open_store(f"duckdb:///{tmp_path}/memo.db")
    cache = open_cache("memory://")
    try:
        store.ingest([load_real("SOLUSDT-1h.csv")])
        spec = runs.prepare_spec("sma_cross", {"fast": 6, "slow": 30}, interval="1h")
        memo = RenderMemo()
        options = {"max_points": 40, "equity": True, "trades": False}
        first = runs.answer(store, cache, "SOLUSDT", spec, memo=memo, **options)
        assert len(memo) == 0  # a new result: nothing kept yet
        second = runs.answer(store, cache, "SOLUSDT", spec, memo=memo, **options)
        assert len(memo) == 1
        third = runs.answer(store, cache, "SOLUSDT", spec, memo=memo, **options)
        outcome = runs.run_one(store, cache, "SOLUSDT", spec)
        assert second == third == encode(outcome.to_dict(max_points=40, trades=False))
        assert first.replace(b'"cached":false', b'"cached":true', 1) == second
        other = runs.answer(store, cache, "SOLUSDT", spec, memo=memo, max_points=10)
        assert other != second and len(memo) == 2  # another shape, kept apart
    finally:
        cache.close()
        store.close()
