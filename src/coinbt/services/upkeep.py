"""Store upkeep: retention (archive, then drop, candles older than an age)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coinbt.collector import files
from coinbt.domain.interval import Interval
from coinbt.domain.timeutil import format_ms
from coinbt.errors import InputError
from coinbt.store.base import MarketStore
from coinbt.store.candles import now_ms

DAY_MS = 86_400_000


@dataclass
class PruneReport:
    """What a retention run did."""

    before: int
    candles: int = 0
    pairs: int = 0
    archives: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def prune(
    store: MarketStore,
    *,
    older_than_days: float,
    interval: str = "1h",
    archive_dir: str | os.PathLike[str] | None = None,
    now: int | None = None,
) -> PruneReport:
    """Drop candles of ``interval`` opened more than ``older_than_days`` ago, first writing
    each pair's share to ``archive_dir`` as an importable CSV when given. Daily and weekly
    rollups stay, so long-range daily history survives the hourly candles' retention."""
    if older_than_days <= 0:
        raise InputError(
            "the age must be positive", hint="e.g. --older-than 730", field="older_than"
        )
    ivl = Interval.parse(interval)
    report = PruneReport(
        before=(now if now is not None else now_ms()) - int(older_than_days * DAY_MS)
    )
    for pair in store.pairs():
        if not any(
            s.interval is ivl and not s.rollup and s.first_time < report.before for s in pair.series
        ):
            continue
        if archive_dir is not None:
            report.archives.append(
                str(_archive(store, pair.symbol, ivl, report.before, Path(archive_dir)))
            )
        report.candles += store.delete_before(pair.id, ivl, report.before)
        report.pairs += 1
    return report


def _archive(
    store: MarketStore, symbol: str, interval: Interval, before: int, folder: Path
) -> Path:
    old = store.read(symbol, interval, None, before - 1)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = format_ms(int(old.time[-1]))[:10]
    target = folder / f"{symbol}-{interval.value}-until-{stamp}.csv"
    files.write_csv(old, target)
    return target
