"""The ResultCache contract, one set of test bodies run on the memory and Redis backends.

Followed by what only one backend promises (LRU bounds for memory; TTLs, namespacing and
cross-process purge for Redis), the key's canonical form, and the URL factory.

The Redis backend runs against the server at ``COINBT_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``). When it cannot be reached the tests fail (they do not skip):
the contract must hold on Redis, so a missing server is a broken test environment. Each
test writes under its own ``coinbt-test:<uuid>`` prefix and deletes only those keys.

The fixtures live here, not in a ``tests/contract/conftest.py``: this test tree has no
``__init__.py`` files and unit tests do ``from conftest import ...``, which a second
``conftest`` module would shadow.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from coinbt.cache import CacheKey, MemoryCache, ResultCache, open_cache
from coinbt.cache.redis import DEFAULT_TTL, RedisCache
from coinbt.errors import ConfigurationError

REDIS_URL = os.environ.get("COINBT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    """A cache under test and how to let time pass for it."""

    backend: str
    cache: ResultCache
    wait: Callable[[float], None]


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """A plain client on the shared test Redis; fails the test when it is unreachable."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"the cache contract tests need a Redis server at {REDIS_URL} ({exc}); start "
            "one (redis-server) or point COINBT_TEST_REDIS_URL at one",
            pytrace=False,
        )
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A fresh key prefix; every key under it is deleted afterwards (and only those)."""
    prefix = f"coinbt-test:{uuid.uuid4().hex}"
    yield prefix
    leftovers = list(redis_client.scan_iter(match=f"{prefix}:*", count=1000))
    if leftovers:
        redis_client.delete(*leftovers)


@pytest.fixture(params=["memory", "redis"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The same contract, once per backend, both built through ``open_cache``."""
    if request.param == "memory":
        clock = FakeClock()
        cache = open_cache("memory://", clock=clock)
        yield Harness("memory", cache, clock.advance)
    else:
        prefix = request.getfixturevalue("redis_prefix")
        cache = open_cache(REDIS_URL, prefix=prefix)
        yield Harness("redis", cache, time.sleep)
    cache.close()


BASE: dict[str, Any] = {
    "strategy": "sma_cross",
    "params": {"fast": 10, "slow": 30.5},
    "pair": "BTCUSDT",
    "interval": "1h",
    "start": 1_600_000_000_000,
    "end": None,
    "options": {"transaction_fee": 0.001, "direction": "long"},
    "engine_version": "0.1.0",
    "data_version": 7,
}


def make_key(**changes: Any) -> CacheKey:
    return CacheKey(**{**BASE, **changes})


def keys(n: int, **changes: Any) -> list[CacheKey]:
    """``n`` distinct keys (they differ in the ``fast`` parameter)."""
    return [make_key(params={"fast": i, "slow": 30.5}, **changes) for i in range(n)]


VARIANTS: dict[str, dict[str, Any]] = {
    "strategy": {"strategy": "rsi"},
    "param value": {"params": {"fast": 11, "slow": 30.5}},
    "param fraction": {"params": {"fast": 10.5, "slow": 30.5}},
    "param added": {"params": {"fast": 10, "slow": 30.5, "signal": 9}},
    "param bool vs int": {"params": {"fast": True, "slow": 30.5}},
    "pair": {"pair": "ETHUSDT"},
    "pair id": {"pair": 1},
    "interval": {"interval": "4h"},
    "start": {"start": 1_600_000_000_001},
    "end": {"end": 1_700_000_000_000},
    "options": {"options": {"transaction_fee": 0.002, "direction": "long"}},
    "engine version": {"engine_version": "0.1.1"},
    "data version": {"data_version": 8},
    "kind": {"kind": "batch"},
}


# ---------------------------------------------------------------------------- the contract


def test_both_backends_follow_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.cache, ResultCache)
    assert harness.cache.backend == harness.backend


def test_miss_then_set_then_hit(harness: Harness) -> None:
    cache, key = harness.cache, make_key()
    assert cache.get(key) is None
    cache.set(key, b"result")
    assert cache.get(key) == b"result"
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.sets, stats.errors) == (1, 1, 1, 0)
    assert stats.backend == harness.backend


def test_set_overwrites(harness: Harness) -> None:
    harness.cache.set(make_key(), b"old")
    harness.cache.set(make_key(), b"new")
    assert harness.cache.get(make_key()) == b"new"


@pytest.mark.parametrize("component", list(VARIANTS))
def test_any_component_changes_the_key(harness: Harness, component: str) -> None:
    harness.cache.set(make_key(), b"base")
    other = make_key(**VARIANTS[component])
    assert other != make_key()
    assert other.digest() != make_key().digest()
    assert harness.cache.get(other) is None
    harness.cache.set(other, b"other")
    assert harness.cache.get(make_key()) == b"base"
    assert harness.cache.get(other) == b"other"


def test_data_version_bump_makes_the_old_entry_unreachable(harness: Harness) -> None:
    harness.cache.set(make_key(data_version=7), b"computed on old candles")
    assert harness.cache.get(make_key(data_version=8)) is None


def test_equivalent_spellings_share_one_entry(harness: Harness) -> None:
    harness.cache.set(make_key(params={"fast": 10.0, "slow": 30.5}), b"x")
    same = make_key(
        params={"slow": 30.5, "fast": 10}, options={"direction": "long", "transaction_fee": 0.001}
    )
    assert harness.cache.get(same) == b"x"


def test_entries_expire_after_their_ttl(harness: Harness) -> None:
    cache = harness.cache
    cache.set(make_key(), b"short-lived", ttl=0.4)
    cache.set(make_key(pair="ETHUSDT"), b"default lifetime")
    harness.wait(0.1)
    assert cache.get(make_key()) == b"short-lived"
    harness.wait(0.5)
    assert cache.get(make_key()) is None
    assert cache.get(make_key(pair="ETHUSDT")) == b"default lifetime"


@pytest.mark.parametrize("ttl", [0, -1.0, float("nan"), float("inf")])
def test_a_nonpositive_ttl_is_a_caller_bug(harness: Harness, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        harness.cache.set(make_key(), b"x", ttl=ttl)


def test_get_many_and_set_many_handle_hundreds(harness: Harness) -> None:
    cache, batch = harness.cache, keys(400)
    assert cache.get_many([]) == []
    cache.set_many([(key, f"v{i}".encode()) for i, key in enumerate(batch) if i % 2 == 0])
    values = cache.get_many(batch)
    assert values == [f"v{i}".encode() if i % 2 == 0 else None for i in range(400)]
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.sets) == (200, 200, 200)
    assert stats.hit_rate == pytest.approx(0.5)


def test_set_many_honours_the_ttl(harness: Harness) -> None:
    harness.cache.set_many([(key, b"x") for key in keys(3)], ttl=0.3)
    harness.wait(0.5)
    assert harness.cache.get_many(keys(3)) == [None, None, None]


def test_purge_makes_every_earlier_entry_unreachable(harness: Harness) -> None:
    cache, batch = harness.cache, keys(5)
    cache.set_many([(key, b"old") for key in batch])
    assert cache.purge() == 5
    assert cache.get_many(batch) == [None] * 5
    cache.set(batch[0], b"new")
    assert cache.get(batch[0]) == b"new"
    assert cache.purge() == 1
    assert cache.get(batch[0]) is None
    assert cache.purge() == 0


def test_stats_count_hits_and_misses(harness: Harness) -> None:
    cache = harness.cache
    assert cache.stats().hit_rate == 0.0
    cache.set(make_key(), b"x")
    for _ in range(3):
        cache.get(make_key())
    cache.get(make_key(pair="NOPE"))
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.sets, stats.errors) == (3, 1, 1, 0)
    assert stats.hit_rate == pytest.approx(0.75)
    assert stats.as_dict()["hit_rate"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    "value",
    [b"", b"\x00", bytes(range(256)) * 4, b"\r\n$-1\r\n*3\r\n", bytes(1_000_003)],
    ids=["empty", "nul", "all-bytes", "resp-lookalike", "1MB"],
)
def test_binary_values_round_trip_exactly(harness: Harness, value: bytes) -> None:
    harness.cache.set(make_key(), value)
    got = harness.cache.get(make_key())
    assert got is not None and got == value and type(got) is bytes


def test_health_reports_ok(harness: Harness) -> None:
    health = harness.cache.health()
    assert health["status"] == "ok"
    assert health["backend"] == harness.backend
    assert isinstance(health["detail"], str)


# ---------------------------------------------------------------------------- memory only


def test_memory_evicts_the_least_recently_used_entry() -> None:
    cache = MemoryCache(max_entries=3)
    a, b, c, d = keys(4)
    cache.set_many([(a, b"a"), (b, b"b"), (c, b"c")])
    assert cache.get(a) == b"a"  # a is now the most recently used; b the least
    cache.set(d, b"d")
    assert cache.get_many([a, b, c, d]) == [b"a", None, b"c", b"d"]
    assert cache.stats().evictions == 1
    assert cache.stats().entries == 3


def test_memory_respects_its_byte_budget() -> None:
    cache = MemoryCache(max_bytes=10)
    a, b, c = keys(3)
    cache.set(a, b"12345")
    cache.set(b, b"67890")
    cache.set(c, b"x")
    assert cache.get_many([a, b, c]) == [None, b"67890", b"x"]
    assert cache.stats().size_bytes == 6
    cache.set(a, bytes(11))  # larger than the whole budget: not stored, nothing evicted
    assert cache.get_many([a, b, c]) == [None, b"67890", b"x"]


def test_memory_ttl_follows_the_injected_clock() -> None:
    clock = FakeClock()
    cache = MemoryCache(default_ttl=60, clock=clock)
    cache.set(make_key(), b"x")
    clock.advance(59.9)
    assert cache.get(make_key()) == b"x"
    clock.advance(0.1)
    assert cache.get(make_key()) is None
    assert cache.stats().entries == 0


def test_memory_is_thread_safe() -> None:
    cache = MemoryCache(max_entries=50)
    batch = keys(200)

    def work(offset: int) -> None:
        for i in range(2_000):
            key = batch[(i + offset) % len(batch)]
            if cache.get(key) is None:
                cache.set(key, key.digest().encode())

    threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = cache.stats()
    assert stats.entries == 50
    assert stats.hits + stats.misses == 16_000
    values = cache.get_many(batch)
    assert all(v is None or v == k.digest().encode() for k, v in zip(batch, values, strict=True))


# ---------------------------------------------------------------------------- Redis only


def test_redis_writes_namespaced_keys_with_the_default_ttl(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    cache = open_cache(REDIS_URL, prefix=redis_prefix)
    cache.set(make_key(), b"x")
    cache.set(make_key(pair="ETHUSDT"), b"y", ttl=90)
    entry = f"{redis_prefix}:g0:{make_key().path}"
    assert entry.endswith(f"v1:bt:BTCUSDT:1h:{make_key().digest()}")
    assert DEFAULT_TTL - 60 < redis_client.pttl(entry) / 1000 <= DEFAULT_TTL
    other = f"{redis_prefix}:g0:{make_key(pair='ETHUSDT').path}"
    assert 80 < redis_client.pttl(other) / 1000 <= 90
    written = {k.decode() for k in redis_client.scan_iter(match=f"{redis_prefix}:*")}
    assert {entry, other} <= written
    assert all(k.startswith(f"{redis_prefix}:") for k in written)


def test_redis_ttl_comes_from_the_url(redis_client: redis.Redis, redis_prefix: str) -> None:
    cache = open_cache(f"{REDIS_URL}?ttl=120&timeout=0.5", prefix=redis_prefix)
    cache.set(make_key(), b"x")
    assert 110 < redis_client.pttl(f"{redis_prefix}:g0:{make_key().path}") / 1000 <= 120


def test_redis_handles_share_entries_and_see_each_others_purge(redis_prefix: str) -> None:
    first = open_cache(REDIS_URL, prefix=redis_prefix)
    second = open_cache(REDIS_URL, prefix=redis_prefix)
    first.set(make_key(), b"shared")
    assert second.get(make_key()) == b"shared"
    assert first.purge() == 1
    assert second.get(make_key()) is None
    second.set(make_key(), b"after purge")  # second learned the new generation
    assert first.get(make_key()) == b"after purge"


def test_redis_write_by_a_stale_handle_lands_in_the_new_generation(redis_prefix: str) -> None:
    stale = open_cache(REDIS_URL, prefix=redis_prefix)
    stale.get(make_key())  # learns generation 0
    admin = open_cache(REDIS_URL, prefix=redis_prefix)
    admin.purge()
    stale.set(make_key(), b"fresh")
    assert admin.get(make_key()) == b"fresh"


def test_redis_prefixes_isolate_caches(redis_prefix: str) -> None:
    mine = open_cache(REDIS_URL, prefix=redis_prefix)
    theirs = open_cache(REDIS_URL, prefix=f"{redis_prefix}:other")
    mine.set(make_key(), b"mine")
    assert theirs.get(make_key()) is None
    theirs.purge()
    assert mine.get(make_key()) == b"mine"


def test_redis_health_reports_generation(redis_prefix: str) -> None:
    cache = open_cache(REDIS_URL, prefix=redis_prefix)
    cache.set_many([(key, b"x") for key in keys(3)])
    cache.purge()
    cache.set(make_key(), b"x")
    health = cache.health()
    assert health["status"] == "ok"
    assert health["entries"] == 1
    assert "generation 1" in health["detail"]


# ---------------------------------------------------------------------------- the key


def test_the_digest_is_sha256_of_canonical_json() -> None:
    text = (
        '{"data_version":7,"end":null,"engine_version":"0.1.0","interval":"1h","kind":"bt",'
        '"options":{"direction":"long","transaction_fee":0.001},"pair":"BTCUSDT",'
        '"params":{"fast":10,"slow":30.5},"schema":"v1","start":1600000000000,'
        '"strategy":"sma_cross"}'
    )
    assert make_key().digest() == hashlib.sha256(text.encode()).hexdigest()
    assert make_key().label() == f"coinbt:v1:bt:BTCUSDT:1h:{make_key().digest()}"


def test_the_key_copies_its_mappings() -> None:
    params = {"fast": 10, "slow": 30.5}
    key = make_key(params=params)
    params["fast"] = 99
    assert key == make_key()
    assert {key: 1}[make_key()] == 1


def test_unsafe_characters_stay_out_of_the_readable_part() -> None:
    key = make_key(pair="BTC/USDT:PERP")
    assert key.path.startswith("v1:bt:BTC_USDT_PERP:1h:")
    assert key != make_key(pair="BTC_USDT_PERP")


@pytest.mark.parametrize("params", [{"fast": object()}, {1: 2}, {"fast": {1, 2}}])
def test_unusable_parameter_values_are_refused(params: dict[Any, Any]) -> None:
    with pytest.raises(TypeError, match="cache key"):
        make_key(params=params)


# ---------------------------------------------------------------------------- the factory


def test_memory_url_options() -> None:
    cache = open_cache("memory://?max_entries=2&max_bytes=1000&ttl=5")
    assert isinstance(cache, MemoryCache)
    assert (cache.max_entries, cache.max_bytes, cache.default_ttl) == (2, 1000, 5.0)


def test_redis_url_builds_an_unconnected_cache() -> None:
    cache = open_cache("rediss://:secret@cache.invalid:6380/2?prefix=x&cooldown=5&db=2")
    assert isinstance(cache, RedisCache)
    assert cache.prefix == "x"
    assert "secret" not in repr(cache) and "secret" not in str(cache.health())


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("memcached://localhost", "unknown cache scheme"),
        ("localhost:6379", "unknown cache scheme"),
        ("memory://?max_entries=lots", "must be a number"),
        ("memory://?max_entries=0", "positive"),
        ("memory://?size=3", "unknown option"),
        ("memory://somewhere", "no host"),
        ("redis://:hunter2@localhost/0?timeout=-1", "positive"),
        ("redis://localhost/0?bogus=1", "unknown option"),
        ("redis://localhost/0?ttl=1&ttl=2", "twice"),
    ],
)
def test_bad_urls_raise_configuration_errors_with_a_hint(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why) as caught:
        open_cache(url)
    assert "memory://" in caught.value.hint
    assert "hunter2" not in str(caught.value)


def test_the_prefix_argument_wins_over_the_url() -> None:
    cache = open_cache(f"redis://127.0.0.1:6379/0?prefix={uuid.uuid4().hex}", prefix="mine")
    assert isinstance(cache, RedisCache) and cache.prefix == "mine"
