"""The collector end to end: the real services.collect, the real ccxt client over HTTP, the
stand-in Binance with its faults, and each store backend.

Every data test ends by comparing the store with the stand-in's oracle, every column of
every candle (support.collect_env.assert_exact), so "nothing lost, nothing doubled, nothing
invented, nothing still open" is checked, not sampled.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from coinbt.domain.bars import Bars
from coinbt.domain.market import PairSpec
from coinbt.errors import ExchangeBannedError
from coinbt.services.collect import OUTAGE_REASON, PairProgress, collect
from coinbt.store import SqlStore
from support import collect_env
from support.collect_env import (
    OPEN_CANDLE,
    OUTAGE_PAIR,
    TRADING,
    advance,
    assert_exact,
    assert_prefix,
    exchange,
    klines_requests,
    served_total,
    stored_total,
)
from support.fake_binance import HOUR_MS, KLINES, FakeBinance, Fault

server = collect_env.server
store_url = collect_env.store_url
store = collect_env.store

PASS = Fault("delay", delay_s=0)
FAULTS = [
    Fault("status", 429, retry_after=0.05),
    Fault("status", 500),
    Fault("status", 502),
    Fault("status", 503),
    Fault("delay", delay_s=1.0),  # longer than the client's 0.4 s timeout
    Fault("truncate"),
    Fault("malformed"),
    Fault("body", body="<html>maintenance</html>"),
    Fault("out_of_order"),
    Fault("duplicate"),
    Fault("drop"),
    Fault("reset"),
]


def inject_every_fault(server: FakeBinance, *, between: Fault | None = PASS) -> None:
    """Each fault once (a good answer between two, unless ``between`` is None)."""
    for fault in FAULTS:
        server.inject(fault, *([between] if between else []))


def faults_left(server: FakeBinance) -> int:
    """Injected answers not served yet (the stand-in keeps them in a private queue)."""
    return len(server._faults.get(KLINES, ()))


def test_full_then_update_store_exactly_the_served_candles_through_every_fault(
    server: FakeBinance, store: SqlStore
) -> None:
    inject_every_fault(server)
    full = collect(store, exchange(server), mode="full")
    assert faults_left(server) == 0
    assert_exact(store, server)
    assert (full.kind, full.status, full.pairs, full.errors) == ("full", "ok", 4, 0)
    assert full.candles_added == served_total(server) and full.candles_revised == 0

    advance(server, 9)  # pages of 2 candles: 5 requests per pair, faults back to back
    inject_every_fault(server, between=None)
    update = collect(store, exchange(server, page_limit=2, max_retries=12), mode="update")
    assert faults_left(server) == 0
    assert_exact(store, server)
    assert (update.kind, update.status, update.candles_added) == ("update", "ok", 4 * 9)
    assert [r.id for r in store.ingest_runs()] == [update.id, full.id]
    assert {p.symbol for p in store.pairs()} == set(TRADING)  # not ETHBTC, not OLDUSDT


def test_a_full_run_over_stored_candles_revises_only_what_changed(
    server: FakeBinance, store: SqlStore
) -> None:
    collect(store, exchange(server), mode="full")
    want = server.candles("BTCUSDT", "1h", 0)
    wrong = Bars.from_arrays(
        "BTCUSDT", "1h", want.time[:3], want.open[:3], want.high[:3] * 2, want.low[:3],
        want.close[:3], want.volume[:3],
    )  # fmt: skip
    store.ingest(wrong)
    again = collect(store, exchange(server), mode="full")
    assert (again.candles_added, again.candles_revised) == (0, 3)
    assert again.detail["invalidated_pairs"] == 1
    assert_exact(store, server)


def test_the_open_candle_is_never_stored_and_a_later_run_completes_it(
    server: FakeBinance, store: SqlStore
) -> None:
    collect(store, exchange(server), mode="full")
    for symbol in TRADING:
        assert store.pair(symbol).last_time == OPEN_CANDLE - HOUR_MS
    advance(server, 1)  # 13:30: the 12:00 candle has closed
    collect(store, exchange(server), mode="update")
    final = server.candles("BTCUSDT", "1h", OPEN_CANDLE)
    got = store.read("BTCUSDT", "1h", OPEN_CANDLE)
    assert len(got) == len(final) == 1
    assert (got.close[0], got.volume[0]) == (final.close[0], final.volume[0])
    assert_exact(store, server)


def test_a_ban_stops_the_run_keeps_what_was_committed_and_records_the_failure(
    server: FakeBinance, store: SqlStore
) -> None:
    server.inject(*[PASS] * 12, Fault("status", 418, retry_after=60))
    with pytest.raises(ExchangeBannedError, match="banned this IP") as banned:
        collect(store, exchange(server, concurrency=2), mode="full", batch_candles=150)
    assert "wait until the ban lifts" in banned.value.hint
    (failed,) = store.ingest_runs()
    assert failed.status == "failed" and failed.detail["failure"]["code"] == "exchange_banned"
    kept = sum(assert_prefix(store, server, s) for s in TRADING)
    assert 0 < kept == failed.candles_added == stored_total(store)
    assert len(klines_requests(server)) == 13  # nothing asked after the ban

    resumed = collect(store, exchange(server), mode="update")
    assert resumed.status == "ok" and resumed.candles_added == served_total(server) - kept
    assert_exact(store, server)


class KilledError(Exception):
    """Stands for the process being stopped half-way."""


def test_a_killed_run_loses_nothing_committed_and_the_next_update_resumes(
    server: FakeBinance, store: SqlStore
) -> None:
    pages = 0

    def kill_after_12_pages(step: PairProgress) -> None:
        nonlocal pages
        pages += step.state == "page"
        if pages == 12:
            raise KilledError("stopped")

    with pytest.raises(KilledError):
        collect(
            store, exchange(server), mode="full", batch_candles=250, progress=kill_after_12_pages
        )
    (killed,) = store.ingest_runs()
    assert killed.status == "failed" and killed.detail["failure"]["message"] == "stopped"
    kept = sum(assert_prefix(store, server, s) for s in TRADING)
    assert 0 < kept == killed.candles_added < served_total(server)

    lasts = {s: store.pair(s).last_time for s in TRADING if store.pair(s).series}
    server.log.clear()
    resumed = collect(store, exchange(server), mode="update")
    assert resumed.candles_added == served_total(server) - kept
    assert_exact(store, server)
    for symbol in TRADING:  # each pair resumes after its last committed candle
        first = next(q for q in klines_requests(server) if q["symbol"] == symbol)
        last = lasts.get(symbol)
        assert int(first["startTime"]) == (0 if last is None else last + HOUR_MS)


def test_a_pair_that_keeps_failing_is_counted_and_the_others_go_on(
    server: FakeBinance, store: SqlStore
) -> None:
    server.inject(Fault("status", 503))  # the first pair's first page, with no retry left
    run = collect(store, exchange(server, concurrency=1, max_retries=0), mode="full")
    assert (run.status, run.errors) == ("partial", 1)
    (error,) = run.detail["errors"]
    assert error["symbol"] == "BNBUSDT" and "HTTP 503" in error["error"]
    assert_exact(store, server, TRADING[1:])
    assert not store.pair("BNBUSDT").series

    again = collect(store, exchange(server), mode="update")  # a pair never stored: full history
    assert again.status == "ok"
    assert_exact(store, server)


def test_an_exchange_outage_is_recorded_as_a_known_gap_and_never_asked_again(
    server: FakeBinance, store: SqlStore
) -> None:
    full = collect(store, exchange(server), mode="full")
    (gap,) = store.gaps(OUTAGE_PAIR, "1h")
    assert gap.known and gap.reason == OUTAGE_REASON and gap.missing == 5
    assert full.gaps == 1 and full.detail["known_gaps"][0]["symbol"] == OUTAGE_PAIR
    server.log.clear()
    advance(server, 2)
    update = collect(store, exchange(server), mode="update")
    assert (update.gaps, update.detail["gaps_refetched"]) == (0, 0)
    asked = [int(q["startTime"]) for q in klines_requests(server) if q["symbol"] == OUTAGE_PAIR]
    assert asked == [OPEN_CANDLE]  # only the tail: never the outage again
    assert store.gaps(OUTAGE_PAIR, "1h") == [gap]
    assert_exact(store, server)


def seed(store: SqlStore, server: FakeBinance, symbol: str, hole: slice | None) -> np.ndarray:
    """Store the oracle's candles of ``symbol`` minus the rows in ``hole``."""
    want = server.candles(symbol, "1h", 0)
    keep = np.ones(len(want), dtype=bool)
    if hole is not None:
        keep[hole] = False
    cols = [want[c][keep] for c in ("time", "open", "high", "low", "close", "volume")]
    store.ingest(Bars.from_arrays(symbol, "1h", *cols))
    return want.time


def test_a_hole_in_stored_history_is_refetched(server: FakeBinance, store: SqlStore) -> None:
    times = seed(store, server, "BTCUSDT", slice(100, 130))
    for symbol in TRADING[2:]:
        seed(store, server, symbol, None)
    run = collect(store, exchange(server), mode="update", symbols=["BTCUSDT", "ETHUSDT"])
    # BTCUSDT's hole and ETHUSDT's outage (unknown to a store filled by an import)
    assert run.detail["gaps_refetched"] == 2 and run.gaps == 1
    assert store.gaps("BTCUSDT", "1h") == []
    hole = {"startTime": str(times[100]), "endTime": str(times[129])}
    assert any(hole.items() <= q.items() for q in klines_requests(server))
    (outage,) = store.gaps(OUTAGE_PAIR, "1h")  # asked again, missing again: now known
    assert outage.known
    assert_exact(store, server, ("BTCUSDT", "ETHUSDT", "SOLUSDT"))


def test_the_pipeline_moves_exactly_the_touched_pairs_versions_and_dashboard_rows(
    server: FakeBinance, store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    collect(store, exchange(server), mode="full")
    versions = store.data_versions(list(TRADING), "1h")
    rows = {r.symbol: r for r in store.dashboard()}
    quiet = collect(store, exchange(server), mode="update")  # nothing new yet
    assert quiet.candles_added == 0 and quiet.detail["invalidated_pairs"] == 0
    assert store.data_versions(list(TRADING), "1h") == versions

    advance(server, 2)
    caplog.set_level(logging.INFO, logger="coinbt.services.collect")
    run = collect(store, exchange(server), mode="update", symbols=["BTCUSDT", "SOLUSDT"])
    assert run.detail["invalidated_pairs"] == 2
    assert "data versions moved for 2 pairs" in caplog.text
    after = store.data_versions(list(TRADING), "1h")
    ids = {p.symbol: p.id for p in store.pairs()}
    moved = {s for s in TRADING if after[ids[s]] != versions[ids[s]]}
    assert moved == {"BTCUSDT", "SOLUSDT"}
    now_rows = {r.symbol: r for r in store.dashboard()}
    for symbol in TRADING:
        if symbol in moved:
            assert now_rows[symbol].last_updated > rows[symbol].last_updated
        else:
            assert now_rows[symbol] == rows[symbol]


def test_pairs_the_exchange_no_longer_trades_are_marked_inactive(
    server: FakeBinance, store: SqlStore
) -> None:
    store.register_pairs([PairSpec("OLDUSDT", "OLD", "USDT", "binance", True)])
    run = collect(store, exchange(server), mode="update")
    assert run.detail["marked_inactive"] == ["OLDUSDT"] and run.pairs == 4
    assert not store.pair("OLDUSDT").active and not store.pair("OLDUSDT").series
    assert {p.symbol for p in store.pairs(active_only=True)} == set(TRADING)


def test_named_symbols_are_collected_whatever_their_quote_or_state(
    server: FakeBinance, store: SqlStore
) -> None:
    run = collect(store, exchange(server), mode="full", symbols=["eth/btc", "OLDUSDT"])
    assert run.pairs == 2 and run.status == "ok"
    assert not store.pair("OLDUSDT").active and store.pair("ETHBTC").quote == "BTC"
    assert_exact(store, server, ("ETHBTC", "OLDUSDT"))
