"""``coinbt collect update|full``: collect candles from the exchange now."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from coinbt.cli import render
from coinbt.config import load_settings
from coinbt.domain.market import IngestRun
from coinbt.errors import CoinbtError, InputError, NotFoundError
from coinbt.services import wiring
from coinbt.services.collect import PairProgress, collect
from coinbt.store.base import MarketStore


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``collect`` to ``commands``."""
    parser = commands.add_parser(
        "collect",
        parents=[parent],
        help="collect candles from the exchange",
        description="Collect candles from the exchange (COINBT_EXCHANGE, binance by default; "
        "COINBT_EXCHANGE_URL for a testnet, proxy or stand-in) into the store. 'update' "
        "fetches each pair from its last stored candle and refetches holes in its history; "
        "'full' fetches each pair's whole history. The still-open candle is never stored. "
        "Only one collection runs at a time; a second is refused (or waits with --wait).",
    )
    parser.add_argument("mode", choices=("update", "full"), help="what to collect")
    parser.add_argument(
        "--symbols", metavar="LIST", help="only these pairs, e.g. BTCUSDT,ETHUSDT (default: "
        "every active spot pair of --quote)",
    )  # fmt: skip
    parser.add_argument(
        "--interval", metavar="LIST", help="interval(s), e.g. 1h or 1h,1d "
        "(default: COINBT_COLLECT_INTERVALS, 1h)",
    )  # fmt: skip
    parser.add_argument("--quote", help="quote asset of the pairs (default: USDT)")
    parser.add_argument("--wait", action="store_true", help="wait for a running collection")
    parser.add_argument("--json", action="store_true", help="print the run record as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Collect, with progress bars on a terminal, then print what the run did."""
    settings = load_settings()
    symbols = _list(args.symbols, "--symbols") if args.symbols is not None else None
    interval_text = args.interval if args.interval is not None else settings.collect_intervals
    intervals = _list(interval_text, "--interval")
    quote = args.quote or settings.collect_quote
    began = int(time.time() * 1000)
    store = wiring.open_market_store(settings)
    try:
        with _Bars(quiet=args.json) as progress:
            try:
                record = collect(
                    store,
                    wiring.exchange_config(settings),
                    mode=args.mode,
                    symbols=symbols,
                    quote=quote,
                    intervals=intervals,
                    progress=progress,
                    wait=args.wait,
                )
            except (InputError, NotFoundError):
                raise
            except CoinbtError:  # the run stopped: show its record, then the error
                _show_failed(store, args, began)
                raise
        _show(record, args.json)
    finally:
        store.close()
    return 0


def _list(text: str, flag: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise InputError(f"{flag} names nothing", hint=f"e.g. {flag} BTCUSDT,ETHUSDT")
    return items


def _show_failed(store: MarketStore, args: argparse.Namespace, began: int) -> None:
    latest = store.ingest_runs(limit=1, kind=args.mode)
    if latest and latest[0].started_at >= began:
        _show(latest[0], args.json)


def _show(record: IngestRun, as_json: bool) -> None:
    if as_json:
        render.print_json(record.to_dict())
        return
    out = render.console()
    out.print(summary_table(record))
    detail = record.detail
    for error in detail.get("errors", []):
        out.print(f"error: {error['symbol']} {error['interval']}: {error['error']}")
    for gap in detail.get("known_gaps", []):
        out.print(
            f"known gap: {gap['symbol']} {gap['interval']} {render.when(gap['start'])} .. "
            f"{render.when(gap['end'])} ({gap['bars']} bars the exchange does not have)"
        )


def summary_table(record: IngestRun) -> Any:
    """The run's counts as a two-column table."""
    detail = record.detail
    out = render.table("collect", record.kind, right={record.kind})
    rows = [
        ("status", record.status),
        ("pairs", f"{record.pairs:,}"),
        ("candles added", f"{record.candles_added:,}"),
        ("candles revised", f"{record.candles_revised:,}"),
        ("gaps (exchange outages found)", f"{record.gaps:,}"),
        ("holes refetched", f"{detail.get('gaps_refetched', 0):,}"),
        ("errors", f"{record.errors:,}"),
        ("pairs with new data", f"{detail.get('invalidated_pairs', 0):,}"),
        ("duration", f"{record.duration_seconds:.2f} s"),
    ]
    for name, value in rows:
        out.add_row(name, value)
    return out


class _Bars:
    """Progress on a terminal: one bar for the run, one per series being fetched."""

    def __init__(self, *, quiet: bool) -> None:
        self._progress: Progress | None = None
        if not quiet and sys.stderr.isatty():
            self._progress = Progress(
                TextColumn("{task.description:<16}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
        self._overall: TaskID | None = None
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def __enter__(self) -> Any:
        if self._progress is None:
            return None
        self._progress.start()
        self._overall = self._progress.add_task("pairs", total=None)
        return self._update

    def _update(self, step: PairProgress) -> None:
        progress, key = self._progress, (step.symbol, step.interval)
        assert progress is not None and self._overall is not None
        progress.update(self._overall, total=step.total, completed=step.done)
        if step.state in ("done", "failed"):
            if key in self._tasks:
                progress.remove_task(self._tasks.pop(key))
            return
        if key not in self._tasks:
            self._tasks[key] = progress.add_task(f"{step.symbol} {step.interval}", total=None)
        progress.update(self._tasks[key], completed=step.candles, total=step.expected)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
