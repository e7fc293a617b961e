"""Backtests through the result cache and the store: one pair, and stored runs.

A request names a strategy (id or name), its parameters, execution options, an interval
and a time range; :func:`prepare_spec` checks all of it before anything is read, raising
errors whose ``field`` names the bad input (``parameters.fast``, ``start_date``).

:func:`run_one` answers a one-pair request (and :func:`answer` with its JSON bytes):

1. The pair is looked up and its data version read. The version is read *before* the
   candles: a concurrent ingest can then at worst cache newer candles under the older
   version's key, which nobody asks for any more; the other order could cache old candles
   under the new version, and serve them.
2. The cache is asked with a key holding the strategy, parameters, options, pair, interval,
   range, :data:`ENGINE_VERSION` and the data version. A hit returns the result stored with
   the id of the run saved when it was first computed.
3. On a miss the candles are read, the engine runs, the run is saved in the store and the
   result cached.

The API server first tries :func:`look_up_at_once` on its event loop: when the
store remembers the pair's data version (DuckDB, no candles written since) and the cache
is in-process, a body rendered before for the same cache entry is sent without a trip to
a worker thread; otherwise that lookup is handed on, so the cache is asked once per request.

Batches over many pairs are :mod:`coinbt.services.batches`.
"""

from __future__ import annotations

import json
import re
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import coinbt
from coinbt.cache import CacheKey, ResultCache
from coinbt.domain.bars import Bars, BarsBatch
from coinbt.domain.execution import ExecutionConfig
from coinbt.domain.interval import Interval
from coinbt.domain.results import BacktestResult, BatchResult
from coinbt.domain.timeutil import parse_end, parse_time
from coinbt.domain.trades import TRADE_DTYPE, trades_to_dicts
from coinbt.engine.run import backtest_batch
from coinbt.engine.strategies import StrategyDef, get_strategy
from coinbt.engine.strategies.base import ParamValue
from coinbt.errors import (
    CoinbtError,
    DataRangeError,
    InputError,
    NotFoundError,
    ParameterError,
    UnknownStrategyError,
)
from coinbt.services.encoding import encode
from coinbt.services.rendered import RenderMemo
from coinbt.store.base import MarketStore, PairKey, RunRecord

ENGINE_REVISION = 1
"""Bump when the engine's results change meaning (fills, metrics): old cache entries then
become unreachable, like entries of an older coinbt release."""

ENGINE_VERSION = f"{coinbt.__version__}+r{ENGINE_REVISION}"
"""Part of every cache key: the package version plus :data:`ENGINE_REVISION`."""

MAX_ID = 2**63 - 1
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31 23:59:59.999 UTC: the last time ISO can spell
_SYMBOL = re.compile(r"[A-Za-z0-9._-]{1,40}")
_MAGIC = b"cbr1"
_EMPTY_TRADES = np.zeros(0, dtype=TRADE_DTYPE)

# The engine's parallel kernels are not safe to enter from several threads under every numba
# threading layer (the portable "workqueue" one aborts the process); CPU-bound work gains
# nothing from overlapping anyway, so engine calls take turns.
_ENGINE_LOCK = threading.Lock()


@dataclass(frozen=True)
class RunSpec:
    """A checked backtest request: what the engine runs, minus the pair."""

    strategy: StrategyDef
    params: dict[str, ParamValue]
    config: ExecutionConfig
    interval: Interval
    start: int | None
    end: int | None

    def cache_key(self, crypto_id: int, data_version: int, kind: str) -> CacheKey:
        """The key of this request on pair ``crypto_id`` at ``data_version`` (pairs are
        keyed by their stable id, the one spelling every request resolves to)."""
        return CacheKey(
            self.strategy.name,
            self.params,
            crypto_id,
            self.interval.value,
            self.start,
            self.end,
            self.config.to_dict(),
            ENGINE_VERSION,
            data_version,
            kind=kind,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: strategy, parameters, options, interval, range and engine version."""
        return {
            "strategy_id": self.strategy.id,
            "strategy": self.strategy.name,
            "parameters": dict(self.params),
            "options": self.config.to_dict(),
            "interval": self.interval.value,
            "start": self.start,
            "end": self.end,
            "engine_version": ENGINE_VERSION,
        }


def prepare_spec(
    strategy: str | int,
    parameters: Mapping[str, object] | None = None,
    options: Mapping[str, object] | None = None,
    *,
    interval: str = "1d",
    start: str | int | None = None,
    end: str | int | None = None,
) -> RunSpec:
    """Check a request. ``parameters`` may mix strategy parameters with execution options
    (the seed sends ``initial_investment`` and ``transaction_fee`` there); ``options``
    holds execution options only. An option given in both is refused."""
    with _renamed("strategy_id"):
        spec = get_strategy(strategy)
    given = dict(parameters or {})
    extra = dict(options or {})
    names = set(ExecutionConfig.option_names())
    twice = sorted(extra.keys() & given.keys())
    if twice:
        raise ParameterError(
            f"{twice[0]} is given both in parameters and in options",
            hint="give each execution option once",
            field=f"options.{twice[0]}",
        )
    with _located("parameters", extra):
        values = spec.resolve({k: v for k, v in given.items() if k not in names})
        config = ExecutionConfig.from_mapping(
            {k: v for k, v in given.items() if k in names} | extra
        )
    lo, hi = time_range(start, end)
    return RunSpec(spec, values, config, Interval.parse(interval), lo, hi)


def time_range(start: str | int | None, end: str | int | None) -> tuple[int | None, int | None]:
    """Open times in UTC ms of ``start_date`` (a date, ISO time or ms) and ``end_date``
    (a bare date means the whole day); ``None`` for an open end."""
    lo = _moment(start, "start_date", parse_time)
    hi = _moment(end, "end_date", parse_end)
    if lo is not None and hi is not None and lo > hi:
        raise DataRangeError(
            "start_date is after end_date", hint="swap the dates", field="start_date"
        )
    return lo, hi


def pair_key(raw: int | str) -> PairKey:
    """A pair id or symbol as the store takes it; :class:`NotFoundError` for text no pair
    can have (so odd input never reaches the database as a query error)."""
    text = str(raw).strip()
    if isinstance(raw, int) or (text.isascii() and text.isdigit()):
        if 0 < int(text) <= MAX_ID:
            return int(text)
    elif _SYMBOL.fullmatch(text):
        return text.upper()
    raise NotFoundError(
        f"unknown pair {raw!r}",
        hint="use a crypto_id or symbol from GET /api/crypto/cryptocurrencies",
        field="crypto_id",
    )


@dataclass(frozen=True)
class RunOutcome:
    """A one-pair backtest as answered: the result, its stored run and whether it came
    from the cache. ``result.trades`` is empty; ``trades`` holds them as dicts."""

    run_id: int
    cached: bool
    crypto_id: int
    data_version: int
    spec: RunSpec
    result: BacktestResult
    trades: list[dict[str, Any]]

    def to_dict(
        self, *, max_points: int | None = None, equity: bool = True, trades: bool = True
    ) -> dict[str, Any]:
        """The run response: ids, metrics, assumptions, trades and the equity curve
        (downsampled to ``max_points``)."""
        body = self.result.to_dict(curves=equity, max_points=max_points)
        if trades:
            body["trades"] = self.trades
        else:
            body.pop("trades")
        return {
            "run_id": self.run_id,
            "cached": self.cached,
            "crypto_id": self.crypto_id,
            "strategy_id": self.spec.strategy.id,
            "interval": self.spec.interval.value,
            "data_version": self.data_version,
            "engine_version": ENGINE_VERSION,
            **body,
        }


def run_one(store: MarketStore, cache: ResultCache, key: int | str, spec: RunSpec) -> RunOutcome:
    """Backtest ``spec`` on one pair, from the cache when it holds the answer."""
    return _outcome(store, cache, spec, look_up(store, cache, key, spec))


@dataclass(frozen=True)
class Lookup:
    """A one-pair request's pair, data version, cache key and what the cache held."""

    crypto_id: int
    version: int
    cache_key: CacheKey
    blob: bytes | None


IN_PROCESS_CACHES = frozenset({"memory"})
"""Cache backends that answer without I/O, so a lookup may run on an event loop."""


def look_up(store: MarketStore, cache: ResultCache, key: int | str, spec: RunSpec) -> Lookup:
    """The pair's data version (a store query) and the cache's answer for ``spec``."""
    crypto_id, version = _versioned(store, key, spec)
    return _cached(cache, crypto_id, version, spec)


def look_up_at_once(
    store: MarketStore, cache: ResultCache, key: int | str, spec: RunSpec
) -> Lookup | None:
    """:func:`look_up` from what answers without I/O (the versions the store remembers, an
    in-process cache), ``None`` when those cannot tell: an async server asks this on its
    event loop and sends a kept answer without a trip to a worker thread."""
    if cache.backend not in IN_PROCESS_CACHES:
        return None
    versions = store.remembered_versions([pair_key(key)], spec.interval)
    if versions is None:
        return None
    ((crypto_id, version),) = versions.items()
    return _cached(cache, crypto_id, version, spec)


def _cached(cache: ResultCache, crypto_id: int, version: int, spec: RunSpec) -> Lookup:
    cache_key = spec.cache_key(crypto_id, version, kind="run")
    return Lookup(crypto_id, version, cache_key, cache.get(cache_key))


def rendered(
    found: Lookup | None,
    memo: RenderMemo | None,
    *,
    max_points: int | None = None,
    equity: bool = True,
    trades: bool = True,
) -> bytes | None:
    """The response body kept for a cache hit in this shape, if one was rendered."""
    if found is None or found.blob is None or memo is None:
        return None
    return memo.get(_shape(found, max_points, equity, trades), found.blob)


def answer(
    store: MarketStore,
    cache: ResultCache,
    key: int | str,
    spec: RunSpec,
    *,
    max_points: int | None = None,
    equity: bool = True,
    trades: bool = True,
    memo: RenderMemo | None = None,
    found: Lookup | None = None,
) -> bytes:
    """The one-pair run response (:meth:`RunOutcome.to_dict`) as JSON bytes.

    A result found in the cache is encoded once per response shape and kept in ``memo``
    beside the cached bytes it came from: asking again costs the data-version query and
    the cache lookup, not decoding and encoding the result again. A new data version, a
    purge or an evicted entry all change what the cache answers, so the kept body is then
    not used. ``found`` is a :func:`look_up` already made for this request (the cache is
    asked once per request)."""
    found = found or look_up(store, cache, key, spec)
    body = rendered(found, memo, max_points=max_points, equity=equity, trades=trades)
    if body is not None:
        return body
    outcome = _outcome(store, cache, spec, found)
    body = encode(outcome.to_dict(max_points=max_points, equity=equity, trades=trades))
    if outcome.cached and memo is not None and found.blob is not None:
        memo.put(_shape(found, max_points, equity, trades), found.blob, body)
    return body


def _shape(found: Lookup, max_points: int | None, equity: bool, trades: bool) -> tuple[object, ...]:
    return ("run", found.cache_key.digest(), max_points, equity, trades)


def _versioned(store: MarketStore, key: int | str, spec: RunSpec) -> tuple[int, int]:
    """The pair's id and data version (one query names both: all a cache hit needs)."""
    with _renamed("crypto_id"):
        ((crypto_id, version),) = store.data_versions([pair_key(key)], spec.interval).items()
    return crypto_id, version


def _outcome(store: MarketStore, cache: ResultCache, spec: RunSpec, found: Lookup) -> RunOutcome:
    """The cached result ``found`` or, when there is none, a new run (saved and cached)."""
    crypto_id, version = found.crypto_id, found.version
    hit = decode_run(found.blob, spec)
    if hit is not None:
        run_id, result, trades = hit
        return RunOutcome(run_id, True, crypto_id, version, spec, result, trades)
    bars = store.read(crypto_id, spec.interval, spec.start, spec.end)
    result = run_engine([bars], spec).results[0]
    trades = trades_to_dicts(result.trades)
    run_id = store.save_run(_record(crypto_id, result, trades, spec, version))
    cache.set(found.cache_key, encode_run(run_id, result, trades))
    lean = replace(result, trades=_EMPTY_TRADES)
    return RunOutcome(run_id, False, crypto_id, version, spec, lean, trades)


def run_engine(bars: BarsBatch | list[Bars], spec: RunSpec) -> BatchResult:
    """The engine's batch path on ``bars`` (one engine call at a time, see above)."""
    with _ENGINE_LOCK:
        return backtest_batch(bars, spec.strategy, params=spec.params, config=spec.config)


def stored_run(store: MarketStore, run_id: int, *, max_points: int | None = None) -> dict[str, Any]:
    """A stored run as JSON-ready data, its equity curve downsampled to ``max_points``."""
    if not 0 < run_id <= MAX_ID:
        raise NotFoundError(
            f"no stored backtest run {run_id}", hint="use the id a run returned", field="id"
        )
    body = store.get_run(run_id).to_dict()
    if max_points is not None and len(body["equity"]) > max_points:
        rows = np.linspace(0, len(body["equity"]) - 1, max(2, max_points)).round()
        body["equity"] = [body["equity"][int(i)] for i in np.unique(rows)]
    return body


def encode_run(run_id: int, result: BacktestResult, trades: list[dict[str, Any]]) -> bytes:
    """A cached run: a JSON head (id, parameters, metrics, trades) and the raw equity curve."""
    head = json.dumps(
        {
            "run_id": run_id,
            "symbol": result.symbol,
            "parameters": result.parameters,
            "metrics": result.metrics,
            "trades": trades,
        },
        separators=(",", ":"),
    ).encode()
    time = np.ascontiguousarray(result.time, dtype="<i8").tobytes()
    equity = np.ascontiguousarray(result.equity, dtype="<f8").tobytes()
    return _MAGIC + struct.pack("<I", len(head)) + head + time + equity


def decode_run(
    blob: bytes | None, spec: RunSpec
) -> tuple[int, BacktestResult, list[dict[str, Any]]] | None:
    """The run in a cached ``blob``, or ``None`` when there is none or it is unreadable
    (an unreadable entry is a miss, never an error)."""
    if blob is None or not blob.startswith(_MAGIC):
        return None
    try:
        (size,) = struct.unpack_from("<I", blob, len(_MAGIC))
        start = len(_MAGIC) + 4
        head = json.loads(blob[start : start + size])
        curve = blob[start + size :]
        n = len(curve) // 16
        time = np.frombuffer(curve[: 8 * n], dtype="<i8").astype(np.int64)
        equity = np.frombuffer(curve[8 * n :], dtype="<f8").astype(np.float64)
        result = BacktestResult(
            symbol=str(head.get("symbol", "")),
            strategy=spec.strategy.name,
            parameters=head["parameters"],
            config=spec.config,
            interval=spec.interval,
            metrics=head["metrics"],
            time=time,
            equity=equity,
            trades=_EMPTY_TRADES,
        )
        return int(head["run_id"]), result, list(head["trades"])
    except (ValueError, KeyError, TypeError, struct.error):
        return None


def _record(
    crypto_id: int,
    result: BacktestResult,
    trades: list[dict[str, Any]],
    spec: RunSpec,
    version: int,
) -> RunRecord:
    return RunRecord(
        crypto_id=crypto_id,
        symbol=result.symbol,
        interval=spec.interval.value,
        strategy=spec.strategy.name,
        spec={**spec.to_dict(), "data_version": version},
        metrics=dict(result.metrics),
        trades=trades,
        equity_time=result.time,
        equity=result.equity,
    )


def _moment(value: str | int | None, field: str, parse: Callable[..., int]) -> int | None:
    """``value`` parsed as a time in 1970 .. 9999, ``None`` when absent."""
    if value is None or value == "":
        return None
    hint = "use a date like 2024-01-01, 2024-01-01T12:00 or milliseconds since 1970"
    # Dates and milliseconds are ASCII; other digits ("²") would fool the number parsing.
    if isinstance(value, str) and not value.isascii():
        raise InputError(f"cannot read {field} {value!r}", hint=hint, field=field)
    ms = parse(value, field=field)
    if not 0 <= ms <= MAX_TIME_MS:
        raise InputError(f"{field} is outside 1970 .. 9999", hint=hint, field=field)
    return ms


@contextmanager
def _located(default: str, options: Mapping[str, object]) -> Iterator[None]:
    """Prefix the ``field`` of a parameter error with where the value came from."""
    try:
        yield
    except CoinbtError as exc:
        if exc.field is not None and "." not in exc.field:
            exc.field = f"{'options' if exc.field in options else default}.{exc.field}"
        raise


@contextmanager
def _renamed(field: str) -> Iterator[None]:
    """Name the request field in a lookup error (the store says ``crypto``, the request
    ``crypto_id``)."""
    try:
        yield
    except (NotFoundError, UnknownStrategyError) as exc:
        exc.field = field
        raise
