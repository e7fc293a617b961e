"""Build a cache from ``COINBT_CACHE_URL``.

Accepted URLs:

* ``memory://`` — the in-process LRU (the default). Options: ``max_entries`` (10000),
  ``max_bytes`` (256 MiB), ``ttl`` (seconds; default none), e.g.
  ``memory://?max_entries=500&ttl=3600``.
* ``redis://[:password@]host:6379/0`` or ``rediss://…`` (TLS). Options: ``prefix``
  (``coinbt``), ``ttl`` (seconds, default 7 days), ``timeout`` (socket connect and read
  timeout in seconds, default 0.25), ``cooldown`` (seconds Redis is skipped after a
  failure, default 2); redis-py's own ``db``, ``max_connections``,
  ``health_check_interval``, ``socket_keepalive``, ``client_name``, ``protocol`` and
  ``ssl_*`` options pass through.

A bad URL raises :class:`~coinbt.errors.ConfigurationError` with a hint. Nothing connects
here: Redis is first contacted by the first lookup, and a Redis that is down then only
makes lookups miss.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from coinbt.cache.base import DEFAULT_NAMESPACE, ResultCache, redact
from coinbt.cache.memory import DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, MemoryCache
from coinbt.errors import ConfigurationError

_HINT = "set COINBT_CACHE_URL to memory:// or redis://host:6379/0"
_MEMORY_OPTIONS = frozenset({"max_entries", "max_bytes", "ttl"})
_REDIS_OPTIONS = frozenset({"prefix", "ttl", "timeout", "cooldown"})
_REDIS_PASSTHROUGH = frozenset(
    {"db", "max_connections", "health_check_interval", "socket_keepalive", "client_name"}
    | {"protocol", "ssl_check_hostname", "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile"}
    | {"ssl_keyfile"}
)


def open_cache(
    url: str = "memory://",
    *,
    prefix: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ResultCache:
    """The cache ``url`` names (see the module docs for the URL forms and options).

    ``prefix`` overrides the Redis key namespace (tests pass a unique one); ``clock`` is
    the monotonic clock for memory TTLs and the Redis back-off.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise _bad(url, str(exc)) from None
    scheme = parts.scheme.lower()
    options = _query(parts.query, url)
    if scheme == "memory":
        if parts.netloc or parts.path not in ("", "/"):
            raise _bad(url, "memory:// takes no host or path, only options like ?max_entries=")
        return _memory(options, url, clock)
    if scheme in ("redis", "rediss"):
        return _redis(parts._replace(scheme=scheme), options, url, prefix, clock)
    raise _bad(url, f"unknown cache scheme {parts.scheme!r}")


def _memory(options: dict[str, str], url: str, clock: Callable[[], float]) -> MemoryCache:
    _reject_unknown(options, _MEMORY_OPTIONS, url)
    ttl = _number(options, "ttl", url)
    return MemoryCache(
        max_entries=int(_number(options, "max_entries", url) or DEFAULT_MAX_ENTRIES),
        max_bytes=int(_number(options, "max_bytes", url) or DEFAULT_MAX_BYTES),
        default_ttl=ttl,
        clock=clock,
    )


def _redis(
    parts: SplitResult,
    options: dict[str, str],
    url: str,
    prefix: str | None,
    clock: Callable[[], float],
) -> ResultCache:
    try:
        # Imported here so that the redis package stays an optional extra.
        from coinbt.cache.redis import DEFAULT_TIMEOUT, DEFAULT_TTL, RedisCache  # noqa: PLC0415
    except ImportError:
        raise ConfigurationError(
            f"cache URL {redact(url)!r} needs the redis package, which is not installed",
            hint="pip install 'coinbt[redis]', or use COINBT_CACHE_URL=memory://",
        ) from None
    ours = {name: options.pop(name) for name in _REDIS_OPTIONS if name in options}
    _reject_unknown(options, _REDIS_PASSTHROUGH | _REDIS_OPTIONS, url)
    return RedisCache.from_url(
        urlunsplit(parts._replace(query=urlencode(options))),
        prefix=prefix or ours.get("prefix") or DEFAULT_NAMESPACE,
        default_ttl=_number(ours, "ttl", url) or DEFAULT_TTL,
        timeout=_number(ours, "timeout", url) or DEFAULT_TIMEOUT,
        cooldown=_number(ours, "cooldown", url) or 2.0,
        clock=clock,
    )


def _query(query: str, url: str) -> dict[str, str]:
    pairs = parse_qsl(query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise _bad(url, "an option is given twice")
    return dict(pairs)


def _reject_unknown(options: dict[str, str], known: frozenset[str], url: str) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        valid = ", ".join(sorted(known))
        raise _bad(url, f"unknown option(s) {', '.join(unknown)}; valid: {valid}")


def _number(options: dict[str, str], name: str, url: str) -> float | None:
    """Option ``name`` as a positive finite number, ``None`` when absent."""
    text = options.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _bad(url, f"{name} must be a number, not {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise _bad(url, f"{name} must be a positive number, not {text!r}")
    return value


def _bad(url: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"invalid cache URL {redact(url)!r}: {why}", hint=_HINT)
