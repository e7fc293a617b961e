"""Redis down, slow, or dying mid-test: the cache answers misses and never raises.

Connection attempts are counted through a redis-py ``Connection`` subclass and time is a
fake clock driving the circuit breaker, so nothing here asserts on wall-clock time. The
"stopped mid-test" cases run their own throw-away ``redis-server`` on a free port; the
shared server on 6379 is never touched.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from coinbt.cache import CacheKey
from coinbt.cache.breaker import CircuitBreaker
from coinbt.cache.redis import RedisCache, connect
from coinbt.errors import CacheError

LOGGER = "coinbt.cache.redis"


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingConnection(redis.Connection):
    """A redis-py connection that counts how often it tries to connect."""

    attempts = 0

    def connect(self, *args: Any, **kwargs: Any) -> None:
        type(self).attempts += 1
        super().connect(*args, **kwargs)  # type: ignore[no-untyped-call]


def counting_cache(url: str, clock: FakeClock, timeout: float = 0.2) -> RedisCache:
    """A cache built exactly as ``open_cache`` builds it, with counted connections."""
    client = connect(url, timeout)
    client.connection_pool.connection_class = CountingConnection
    CountingConnection.attempts = 0
    breaker = CircuitBreaker(cooldown=2.0, max_cooldown=8.0, clock=clock)
    return RedisCache(client, prefix="coinbt-outage-test", breaker=breaker)


def key(n: int = 0) -> CacheKey:
    return CacheKey("sma_cross", {"fast": n}, "BTCUSDT", "1h", None, None, {}, "0", 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


# ---------------------------------------------------------------------------- nobody home


def test_unreachable_redis_answers_misses_and_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    cache = counting_cache("redis://127.0.0.1:1/0", clock)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert cache.get(key()) is None
        assert CountingConnection.attempts == 1  # redis-py's own retries are off
        for n in range(50):
            assert cache.get(key(n)) is None
        cache.set(key(), b"lost")
        cache.set_many([(key(n), b"lost") for n in range(10)])
        assert cache.get_many([key(n) for n in range(300)]) == [None] * 300
        assert CountingConnection.attempts == 1  # the circuit breaker skipped Redis
    stats = cache.stats()
    assert (stats.errors, stats.skipped, stats.sets, stats.hits) == (1, 53, 0, 0)
    assert stats.misses == 1 + 50 + 300
    assert len(warnings_of(caplog)) == 1
    assert "127.0.0.1:1" in warnings_of(caplog)[0].getMessage()


def test_the_back_off_probes_once_then_doubles(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    cache = counting_cache("redis://127.0.0.1:1/0", clock)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        cache.get(key())
        clock.advance(2.0)
        assert cache.get(key()) is None  # the probe
        assert cache.get(key()) is None  # skipped: the probe failed, back off 4 s
        assert CountingConnection.attempts == 2
        clock.advance(3.9)
        cache.get(key())
        assert CountingConnection.attempts == 2
        clock.advance(0.1)
        cache.get(key())
        assert CountingConnection.attempts == 3
        for _ in range(5):  # the back-off stops growing at max_cooldown (8 s)
            clock.advance(8.0)
            cache.get(key())
    assert CountingConnection.attempts == 8
    assert cache.stats().errors == 8
    assert len(warnings_of(caplog)) == 1  # one outage, one warning


def test_health_while_down_does_not_touch_redis() -> None:
    clock = FakeClock()
    cache = counting_cache("redis://127.0.0.1:1/0", clock)
    assert cache.health()["status"] == "down"
    assert CountingConnection.attempts == 1
    health = cache.health()
    assert health["status"] == "down"
    assert "ConnectionError" in health["detail"] and "next try" in health["detail"]
    assert CountingConnection.attempts == 1


def test_purge_says_when_it_could_not_purge() -> None:
    cache = counting_cache("redis://127.0.0.1:1/0", FakeClock())
    with pytest.raises(CacheError, match="could not purge") as caught:
        cache.purge()
    assert caught.value.hint and caught.value.status == 503
    assert cache.stats().errors == 1


# ---------------------------------------------------------------------------- broken servers


class FaultyServer:
    """A TCP server that accepts connections and then either never answers (``"silent"``)
    or hangs up as soon as a command arrives (``"hang-up"``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            if self.mode == "hang-up":
                conn.settimeout(1.0)
                try:
                    conn.recv(65536)
                finally:
                    conn.close()
            else:
                self.held.append(conn)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture(params=["silent", "hang-up"])
def faulty_server(request: pytest.FixtureRequest) -> Iterator[FaultyServer]:
    server = FaultyServer(request.param)
    yield server
    server.close()


def test_a_slow_or_hanging_up_server_is_a_miss(faulty_server: FaultyServer) -> None:
    clock = FakeClock()
    cache = counting_cache(f"redis://127.0.0.1:{faulty_server.port}/0", clock, timeout=0.1)
    assert cache.get(key()) is None
    cache.set(key(), b"x")
    assert cache.get_many([key(1), key(2)]) == [None, None]
    assert cache.health()["status"] == "down"
    stats = cache.stats()
    assert (stats.errors, stats.skipped, stats.sets) == (1, 2, 0)
    assert CountingConnection.attempts == 1


# ---------------------------------------------------------------------------- a real outage


class RedisProcess:
    """A private ``redis-server`` on ``port`` (no persistence), startable again after a
    kill on the same port."""

    def __init__(self, port: int, workdir: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            pytest.fail("these tests need redis-server (apt-get install redis-server)")
        self.port = port
        self.command = [binary, "--port", str(port), "--bind", "127.0.0.1"]
        self.command += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        probe = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        for _ in range(200):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    pytest.fail(f"redis-server on port {self.port} exited at start")
                time.sleep(0.025)
        else:
            pytest.fail(f"redis-server on port {self.port} did not start")
        probe.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(free_port(), tmp_path)
    server.start()
    yield server
    server.kill()


def test_redis_stopped_mid_test_degrades_then_recovers(
    private_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    cache = counting_cache(f"redis://127.0.0.1:{private_redis.port}/0", clock)
    cache.set(key(), b"before")
    assert cache.get(key()) == b"before"
    assert cache.health()["status"] == "ok"

    with caplog.at_level(logging.INFO, logger=LOGGER):
        private_redis.kill()
        assert cache.get(key()) is None  # the pooled connection is dead: a miss
        cache.set(key(1), b"lost")
        assert cache.get_many([key(), key(1)]) == [None, None]
        assert cache.health()["status"] == "down"
        attempts = CountingConnection.attempts

        private_redis.start()
        assert cache.get(key()) is None  # still backing off: Redis not even tried
        assert CountingConnection.attempts == attempts
        clock.advance(2.0)
        cache.set(key(), b"after")  # the probe succeeds and closes the circuit
        assert cache.get(key()) == b"after"

    assert cache.health()["status"] == "ok"
    stats = cache.stats()
    assert stats.errors == 1
    assert stats.sets == 2
    assert len(warnings_of(caplog)) == 1
    assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_purge_recovers_the_circuit(private_redis: RedisProcess) -> None:
    clock = FakeClock()
    cache = counting_cache(f"redis://127.0.0.1:{private_redis.port}/0", clock)
    cache.set(key(), b"x")
    private_redis.kill()
    assert cache.get(key()) is None
    private_redis.start()
    assert cache.purge() == 0  # the restarted server lost everything; purge still works
    assert cache.breaker.state == "closed"
    cache.set(key(), b"y")
    assert cache.get(key()) == b"y"
