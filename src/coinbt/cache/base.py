"""The result-cache contract: the key, the :class:`ResultCache` protocol and its statistics.

A cached value is opaque ``bytes`` (the services layer serialises results); the cache only
decides where they live and for how long. Every backend answers the same calls:

* ``get`` / ``get_many`` return the stored bytes or ``None`` (a miss);
* ``set`` / ``set_many`` store bytes, optionally with a time-to-live in seconds;
* ``purge`` makes every earlier entry unreachable and says how many it dropped;
* ``stats`` / ``health`` report what the cache has been doing, without raising.

The key (:class:`CacheKey`) holds everything a backtest result depends on, including the
engine version and the pair's data version: when new candles arrive the services build keys
with the new data version, so older entries can no longer be reached and simply expire.
Nothing is ever looked up by pattern.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

KEY_SCHEMA = "v1"
"""Version of the key layout; bump it when :meth:`CacheKey.digest` changes meaning."""

DEFAULT_NAMESPACE = "coinbt"
"""The prefix of every key coinbt writes to a shared store."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def canonical(value: object) -> Any:
    """``value`` as plain JSON data with one spelling per meaning.

    Mappings become dicts with string keys (sorted when dumped), tuples and lists become
    lists, integer-like numbers (numpy ints, ``IntEnum``) become ``int``, and a float that
    is a whole number becomes an ``int`` too: ``10.0`` and ``10`` are the same parameter
    to the engine (which computes in floats and casts window lengths), so they must not
    cache twice. Other floats keep their shortest round-trip ``repr``; ``True`` stays a
    boolean and is never confused with ``1``; ``str`` subclasses (``StrEnum``) become their
    text. Anything else raises :class:`TypeError` naming the value.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return int(number) if number.is_integer() else number
    if isinstance(value, Mapping):
        return _canonical_mapping(value)
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    raise TypeError(f"cannot use {value!r} ({type(value).__name__}) in a cache key")


def _canonical_mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(name, str):
            raise TypeError(f"cache key mappings need string keys, not {name!r}")
        out[str.__str__(name)] = canonical(item)
    return out


def _frozen(value: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, eq=False)
class CacheKey:
    """Everything one cached backtest result depends on.

    ``params`` are the strategy parameters and ``options`` the execution options (for
    example ``ExecutionConfig.to_dict()``); both are copied, so mutating the caller's dict
    later does not change the key. ``pair`` is the symbol (preferred) or the integer id;
    services should pick one spelling, because ``"BTCUSDT"`` and ``1`` make different keys.
    ``start`` and ``end`` are open times in UTC milliseconds, ``None`` for unbounded.
    ``kind`` separates families of results (``"bt"`` for a single backtest).

    Two keys are equal, and hash alike, exactly when their :meth:`digest` is equal.
    """

    strategy: str
    params: Mapping[str, object]
    pair: str | int
    interval: str
    start: int | None
    end: int | None
    options: Mapping[str, object]
    engine_version: str
    data_version: int
    kind: str = "bt"
    _digest: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))
        object.__setattr__(self, "options", _frozen(self.options))
        text = json.dumps(self.payload(), sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "_digest", hashlib.sha256(text.encode()).hexdigest())

    def payload(self) -> dict[str, Any]:
        """The canonical JSON data the digest is computed from."""
        return {
            "schema": KEY_SCHEMA,
            "kind": canonical(self.kind),
            "strategy": canonical(self.strategy),
            "params": canonical(self.params),
            "pair": canonical(self.pair),
            "interval": canonical(self.interval),
            "start": canonical(self.start),
            "end": canonical(self.end),
            "options": canonical(self.options),
            "engine_version": canonical(self.engine_version),
            "data_version": canonical(self.data_version),
        }

    def digest(self) -> str:
        """A stable 64-character hex SHA-256 of :meth:`payload` (same on every machine)."""
        return self._digest

    @property
    def path(self) -> str:
        """The key without namespace: ``v1:bt:BTCUSDT:1h:<digest>``.

        The readable parts only help a human browsing the store; the digest alone decides
        identity, so characters other than letters, digits, ``.``, ``_`` and ``-`` in the
        pair or interval are shown as ``_``.
        """
        pair = _UNSAFE.sub("_", str(self.pair))
        interval = _UNSAFE.sub("_", self.interval)
        return f"{KEY_SCHEMA}:{_UNSAFE.sub('_', self.kind)}:{pair}:{interval}:{self._digest}"

    def label(self, namespace: str = DEFAULT_NAMESPACE) -> str:
        """The key as a readable string, e.g. ``coinbt:v1:bt:BTCUSDT:1h:<digest>``."""
        return f"{namespace}:{self.path}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CacheKey):
            return NotImplemented
        return self._digest == other._digest

    def __hash__(self) -> int:
        return hash(self._digest)


@dataclass(frozen=True)
class CacheStats:
    """What a cache has done since it was opened (per process, never reset by purge).

    ``hits`` and ``misses`` count keys looked up; ``errors`` counts backend calls that
    failed (one failed batch is one error); ``skipped`` counts calls answered without
    trying a backend that is known to be down. ``entries`` and ``size_bytes`` are filled
    when the backend knows them cheaply, ``None`` otherwise.
    """

    backend: str
    hits: int = 0
    misses: int = 0
    sets: int = 0
    errors: int = 0
    skipped: int = 0
    evictions: int = 0
    entries: int | None = None
    size_bytes: int | None = None

    @property
    def hit_rate(self) -> float:
        """Hits over lookups, ``0.0`` before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, ``hit_rate`` included."""
        return {
            "backend": self.backend,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate,
            "sets": self.sets,
            "errors": self.errors,
            "skipped": self.skipped,
            "evictions": self.evictions,
            "entries": self.entries,
            "size_bytes": self.size_bytes,
        }


class StatsRecorder:
    """Thread-safe counters behind :class:`CacheStats`, shared by the backends."""

    _NAMES = ("hits", "misses", "sets", "errors", "skipped", "evictions")

    def __init__(self, backend: str) -> None:
        self._backend = backend
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self._NAMES, 0)

    def add(self, **increments: int) -> None:
        """Add to the named counters (``hits``, ``misses``, ``sets``, ``errors``, ...)."""
        with self._lock:
            for name, amount in increments.items():
                self._counts[name] += amount

    def lookups(self, values: Sequence[bytes | None]) -> None:
        """Count the hits and misses of one batch of answers."""
        hits = sum(value is not None for value in values)
        self.add(hits=hits, misses=len(values) - hits)

    def snapshot(self, entries: int | None = None, size_bytes: int | None = None) -> CacheStats:
        """The counters now, as a frozen :class:`CacheStats`."""
        with self._lock:
            counts = dict(self._counts)
        return CacheStats(self._backend, entries=entries, size_bytes=size_bytes, **counts)


def check_ttl(ttl: float | None) -> float | None:
    """``ttl`` itself when it is ``None`` or a positive finite number of seconds.

    Raises :class:`ValueError` otherwise: a zero or negative lifetime is a caller's bug.
    """
    if ttl is not None and not (isinstance(ttl, int | float) and math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a positive number of seconds or None, not {ttl!r}")
    return ttl


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs, errors and health)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


@runtime_checkable
class ResultCache(Protocol):
    """One cache contract for every backend.

    No method raises because the backend is unreachable: lookups then miss and writes
    do nothing, and the failure shows in :meth:`stats` and :meth:`health`. The one
    exception is :meth:`purge`, an explicit admin action, which raises
    :class:`coinbt.errors.CacheError` when it could not be carried out.
    """

    @property
    def backend(self) -> str:
        """Short backend name (``"memory"``, ``"redis"``)."""
        ...

    def get(self, key: CacheKey) -> bytes | None:
        """The stored bytes, or ``None`` when absent, expired or unreachable."""
        ...

    def set(self, key: CacheKey, value: bytes, ttl: float | None = None) -> None:
        """Store ``value``; it expires after ``ttl`` seconds (``None``: backend default)."""
        ...

    def get_many(self, keys: Sequence[CacheKey]) -> list[bytes | None]:
        """One answer per key, in order, in one round trip where the backend allows."""
        ...

    def set_many(self, items: Iterable[tuple[CacheKey, bytes]], ttl: float | None = None) -> None:
        """Store many ``(key, value)`` pairs at once (one round trip on Redis)."""
        ...

    def purge(self) -> int:
        """Make every entry written so far unreachable; return how many were dropped."""
        ...

    def stats(self) -> CacheStats:
        """Counters since the cache was opened; never touches the network."""
        ...

    def health(self) -> dict[str, Any]:
        """``{"backend", "status": "ok" | "down", "detail", ...}`` for ``/api/health``."""
        ...

    def close(self) -> None:
        """Release connections and memory; the cache must not be used afterwards."""
        ...
