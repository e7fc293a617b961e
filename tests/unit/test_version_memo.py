"""The data-version memo: answers kept only between writes of the one writing process."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coinbt.domain.bars import Bars
from coinbt.store import open_store
from coinbt.store.base import RunRecord
from coinbt.store.duckdb import MEMORY, DuckDBDriver
from coinbt.store.version_memo import MAX_ENTRIES, VersionMemo, WriteMemo

HOUR = 3_600_000


class Clock:
    """A driver's write generation, moved by hand; counts the queries asked."""

    def __init__(self, generation: int | None = 0) -> None:
        self.generation = generation
        self.queries = 0

    def __call__(self) -> int | None:
        return self.generation

    def query(self, answer: dict[int, int]) -> dict[int, int]:
        self.queries += 1
        return dict(answer)


def test_kept_between_writes_and_asked_again_after_one() -> None:
    clock = Clock()
    memo = VersionMemo(clock)
    key = ("1h", (1, 2))
    assert memo.get(key, lambda: clock.query({1: 10, 2: 20})) == {1: 10, 2: 20}
    assert memo.get(key, lambda: clock.query({1: 99, 2: 99})) == {1: 10, 2: 20}
    assert clock.queries == 1
    clock.generation = 2  # a write began and ended
    assert memo.get(key, lambda: clock.query({1: 11, 2: 20})) == {1: 11, 2: 20}
    assert clock.queries == 2


def test_nothing_kept_while_a_write_runs_or_where_others_write() -> None:
    for generation in (1, None):
        clock = Clock(generation)
        memo = VersionMemo(clock)
        for answer in ({1: 1}, {1: 2}):
            assert memo.get(("1d", (1,)), lambda a=answer, c=clock: c.query(a)) == answer
        assert clock.queries == 2


def test_an_answer_read_across_a_write_is_not_kept() -> None:
    clock = Clock()
    memo = VersionMemo(clock)

    def racing() -> dict[int, int]:
        clock.generation = 2  # a whole write ran while the query did
        return clock.query({1: 1})

    memo.get(("1h", (1,)), racing)
    assert memo.get(("1h", (1,)), lambda: clock.query({1: 2})) == {1: 2}
    assert clock.queries == 2


def test_keys_are_kept_apart_and_callers_cannot_change_them() -> None:
    clock = Clock()
    memo = VersionMemo(clock)
    memo.get(("1h", (1,)), lambda: clock.query({1: 5})).clear()
    assert memo.get(("1d", (1,)), lambda: clock.query({1: 6})) == {1: 6}
    assert memo.get(("1h", (1,)), lambda: clock.query({1: 0})) == {1: 5}
    assert clock.queries == 2


def test_bounded() -> None:
    clock = Clock()
    memo = VersionMemo(clock)
    for cid in range(MAX_ENTRIES + 1):
        memo.get(("1h", (cid,)), lambda c=cid: clock.query({c: c}))
    assert memo.get(("1h", (MAX_ENTRIES,)), lambda: clock.query({})) == {MAX_ENTRIES: MAX_ENTRIES}
    assert memo.get(("1h", (0,)), lambda: clock.query({0: 0})) == {0: 0}
    assert clock.queries == MAX_ENTRIES + 2


def test_a_records_only_write_keeps_the_generation() -> None:
    """Storing a run changes no pair, candle or series: what was read stays true."""
    driver = DuckDBDriver(MEMORY)
    before = driver.write_generation()
    with driver.write(records_only=True) as s:
        s.execute("CREATE TABLE notes (x INTEGER)")
    assert driver.write_generation() == before
    with driver.write() as s:
        s.execute("INSERT INTO notes VALUES (1)")
    after = driver.write_generation()
    assert after is not None and before is not None and after == before + 2


def test_pairs_read_again_after_an_ingest_with_a_run_saved_between(tmp_path: Path) -> None:
    """A read remembers the pairs it looked up; a new series must still be seen at once."""
    store = open_store(f"duckdb:///{tmp_path / 'memo.db'}")
    try:
        store.ingest([bars_at("AAAUSDT", 0, 3, "1d")])
        assert store.read_batch(["AAAUSDT"], "1h").batch is None  # no hourly series yet
        store.save_run(run_record())
        assert store.read_batch(["AAAUSDT"], "1h").batch is None
        store.ingest([bars_at("AAAUSDT", 0, 5)])
        again = store.read_batch(["AAAUSDT"], "1h")
        assert again.batch is not None and len(again.batch.close) == 5
    finally:
        store.close()


def test_a_write_memo_without_copy_hands_the_kept_answer() -> None:
    clock = Clock()
    memo: WriteMemo[str, tuple[int, ...]] = WriteMemo(clock)
    assert memo.get("a", lambda: (1, 2)) == (1, 2)
    assert memo.get("a", lambda: (3,)) == (1, 2)
    clock.generation = 2
    assert memo.get("a", lambda: (3,)) == (3,)


def bars_at(symbol: str, first: int, n: int, interval: str = "1h") -> Bars:
    price = np.linspace(100.0, 110.0, n)
    step = 24 * HOUR if interval == "1d" else HOUR
    time = (np.arange(first, first + n) * step).tolist()
    return Bars.from_arrays(symbol, interval, time, price, price + 1, price - 1, price, [1.0] * n)


def run_record() -> RunRecord:
    return RunRecord(
        crypto_id=None,
        symbol="AAAUSDT",
        interval="1h",
        strategy="buy_and_hold",
        spec={},
        metrics={},
        trades=[],
        equity_time=np.zeros(1, dtype=np.int64),
        equity=np.ones(1),
    )


def test_peek_never_queries_and_answers_only_within_the_generation() -> None:
    clock = Clock()
    memo = VersionMemo(clock)
    key = ("1h", (1,))
    assert memo.peek(key) is None  # nothing asked yet
    memo.get(key, lambda: clock.query({1: 3}))
    kept = memo.peek(key)
    assert kept == {1: 3}
    kept.clear()  # the caller's own copy
    assert memo.peek(key) == {1: 3}
    clock.generation = 1  # a write runs
    assert memo.peek(key) is None
    clock.generation = 2  # and ended
    assert memo.peek(key) is None
    assert clock.queries == 1
    assert VersionMemo(Clock(None)).peek(key) is None  # where others write
