"""Pairs in the store: registration with stable ids, lookup by id or symbol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from coinbt.domain.interval import Interval
from coinbt.domain.market import Pair, PairSpec, SeriesInfo
from coinbt.errors import NotFoundError
from coinbt.store.base import PairKey
from coinbt.store.candles import all_series, now_ms
from coinbt.store.driver import Session, among

_SELECT = "SELECT id, symbol, base, quote, exchange, active FROM cryptocurrencies"


def ensure_pairs(s: Session, specs: Sequence[PairSpec], *, update: bool) -> dict[str, int]:
    """Ids of the pairs by symbol, registering the new ones (and, with ``update``,
    refreshing the base, quote, exchange and active flag of the known ones)."""
    wanted = {spec.symbol.upper(): spec for spec in specs}
    found = _ids(s, list(wanted))
    for symbol, spec in wanted.items():
        if symbol not in found:
            # Another writer may register the same pair at the same moment: first one wins.
            s.execute(
                "INSERT INTO cryptocurrencies (symbol, base, quote, exchange, active, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (symbol) DO NOTHING",
                (symbol, spec.base, spec.quote, spec.exchange, spec.active, now_ms()),
            )
        elif update:
            s.execute(
                "UPDATE cryptocurrencies SET base = ?, quote = ?, exchange = ?, active = ? "
                "WHERE id = ?",
                (spec.base, spec.quote, spec.exchange, spec.active, found[symbol]),
            )
    missing = [n for n in wanted if n not in found]
    return {**found, **_ids(s, missing)} if missing else found


def _ids(s: Session, symbols: list[str]) -> dict[str, int]:
    if not symbols:
        return {}
    rows = s.rows(
        "SELECT id, symbol FROM cryptocurrencies WHERE symbol = ANY(?)",
        (symbols,),
    )
    return {str(sym): int(cid) for cid, sym in rows}


def find_pair(s: Session, key: PairKey) -> Pair:
    """One pair by id or symbol (any case); :class:`NotFoundError` when unknown."""
    value: int | str
    if isinstance(key, int) or key.strip().isdigit():
        where, value = "c.id = ?", int(key)
    else:
        where, value = "c.symbol = ?", key.strip().upper()
    # The pair and its series in one round trip (a read of one pair is a few milliseconds).
    rows = s.rows(
        "SELECT c.id, c.symbol, c.base, c.quote, c.exchange, c.active, s.interval, s.rollup, "
        "s.first_time, s.last_time, s.candles, s.data_version FROM cryptocurrencies c "
        f"LEFT JOIN series s ON s.crypto_id = c.id WHERE {where}",
        (value,),
    )
    if not rows:
        raise NotFoundError(
            f"unknown pair {key!r}",
            hint="list pairs with `coinbt dashboard` or GET /api/crypto/cryptocurrencies",
            field="crypto",
        )
    series = [
        SeriesInfo(Interval(r[6]), int(r[8]), int(r[9]), int(r[10]), int(r[11]), bool(r[7]))
        for r in rows
        if r[6] is not None
    ]
    return make_pair(rows[0][:6], series)


def find_pairs(s: Session, keys: Sequence[PairKey] | None) -> list[Pair]:
    """The pairs named by ``keys`` in order (two queries, however many), or every pair by
    id when ``None``; :class:`NotFoundError` for the first unknown key."""
    if keys is None:
        return list_pairs(s)
    if len(keys) == 1:
        return [find_pair(s, keys[0])]
    known = {p.id: p for p in list_pairs(s)}
    by_symbol = {p.symbol: p for p in known.values()}
    found = []
    for key in keys:
        pair = _lookup(key, known, by_symbol)
        if pair is None:
            find_pair(s, key)  # raises the one NotFoundError shape
        else:
            found.append(pair)
    return found


def _lookup(key: PairKey, known: dict[int, Pair], by_symbol: dict[str, Pair]) -> Pair | None:
    if isinstance(key, int) or key.strip().isdigit():
        return known.get(int(key))
    return by_symbol.get(key.strip().upper())


def list_pairs(s: Session, *, active_only: bool = False, quote: str | None = None) -> list[Pair]:
    """Every pair, ordered by id, optionally only active ones of one quote asset."""
    sql = f"{_SELECT} WHERE 1 = 1"
    params: list[object] = []
    if active_only:
        sql += " AND active"
    if quote:
        sql += " AND quote = ?"
        params.append(quote.upper())
    rows = s.rows(sql + " ORDER BY id", params)
    series = all_series(s) if rows else {}
    return [make_pair(r, series.get(int(r[0]), [])) for r in rows]


def make_pair(row: tuple[Any, ...], series: list[SeriesInfo]) -> Pair:
    """A :class:`Pair` from a row of :data:`_SELECT` and its series."""
    ordered = tuple(sorted(series, key=lambda x: (x.rollup, x.interval.ms)))
    cid, symbol, base, quote, exchange, active = row
    return Pair(int(cid), str(symbol), str(base), str(quote), str(exchange), bool(active), ordered)


def serving(pair: Pair, interval: Interval) -> SeriesInfo | None:
    """The series a read of ``interval`` is served from: the pair's own, else its rollup."""
    own = [s for s in pair.series if s.interval is interval]
    return min(own, key=lambda s: s.rollup) if own else None


class PairIds:
    """Symbol → id of the pairs seen so far. Pairs are never renamed or removed, so a
    remembered id never goes stale; only unknown keys cost a query."""

    def __init__(self) -> None:
        self._by_symbol: dict[str, int] = {}
        self._symbols: dict[int, str] = {}

    def named(self, s: Session, keys: Sequence[PairKey]) -> list[tuple[int, str]]:
        """``(id, symbol)`` of ``keys`` in order; :class:`NotFoundError` for the first
        unknown key."""
        return [(cid, self._symbols[cid]) for cid in self.resolve(s, keys)]

    def known(self, keys: Sequence[PairKey]) -> list[int] | None:
        """The ids of ``keys`` in order when every one was seen before (no query)."""
        ids = [self._lookup(k) for k in keys]
        return None if any(cid is None for cid in ids) else [c for c in ids if c is not None]

    def resolve(self, s: Session, keys: Sequence[PairKey]) -> list[int]:
        """The ids of ``keys`` in order; :class:`NotFoundError` for the first unknown key."""
        if any(self._lookup(k) is None for k in keys):
            for cid, symbol in s.rows("SELECT id, symbol FROM cryptocurrencies"):
                self._by_symbol[str(symbol)] = int(cid)
                self._symbols[int(cid)] = str(symbol)
        out = []
        for key in keys:
            cid = self._lookup(key)
            if cid is None:
                find_pair(s, key)  # raises the one NotFoundError shape
            else:
                out.append(cid)
        return out

    def _lookup(self, key: PairKey) -> int | None:
        if isinstance(key, int) or key.strip().isdigit():
            return int(key) if int(key) in self._symbols else None
        return self._by_symbol.get(key.strip().upper())


def versions_of(s: Session, ids: list[int], interval: Interval) -> dict[int, int]:
    """The data version each pair's reads of ``interval`` are served from (0 when none):
    its own series, else its rollup; one query."""
    ids_sql, values = among(s, "crypto_id", ids)
    rows = s.rows(
        f"SELECT crypto_id, rollup, data_version FROM series WHERE interval = ? AND {ids_sql}",
        (interval.value, *values),
    )
    own = {int(c): int(v) for c, rollup, v in rows if not rollup}
    rolled = {int(c): int(v) for c, rollup, v in rows if rollup}
    return {cid: own.get(cid, rolled.get(cid, 0)) for cid in ids}
