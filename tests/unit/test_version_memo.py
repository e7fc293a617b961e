"""The data-version memo: answers kept only between writes of the one writing process."""

from __future__ import annotations

from coinbt.store.version_memo import MAX_ENTRIES, VersionMemo


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
