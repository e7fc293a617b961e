"""``coinbt import`` and ``coinbt export``: candle files in and out of the store."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from coinbt.cli import render
from coinbt.cli.context import market_store
from coinbt.services import market


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``import`` and ``export`` to ``commands``."""
    loader = commands.add_parser(
        "import",
        parents=[parent],
        help="load candle files into the store",
        description="Load candle files (timestamp_ms,open,high,low,close,volume CSV named "
        "SYMBOL-INTERVAL.csv, or Binance archive kline CSV/zip) into the store. Importing "
        "the same files again changes nothing.",
    )
    loader.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders of them")
    loader.add_argument("--symbol", help="the pair, if the file names do not say")
    loader.add_argument("--interval", help="the interval, if the file names do not say")
    loader.add_argument("--json", action="store_true", help="print the summary as JSON")
    loader.set_defaults(handler=run_import)
    exporter = commands.add_parser(
        "export",
        parents=[parent],
        help="write a pair's candles as CSV",
        description="Write a pair's candles to stdout (or --output) in the import format.",
    )
    exporter.add_argument("symbol", metavar="SYMBOL", help="pair symbol or id")
    exporter.add_argument("--interval", default="1h", help="candle interval (1h)")
    exporter.add_argument("--start", metavar="DATE", help="first open time (UTC)")
    exporter.add_argument("--end", metavar="DATE", help="last open time (UTC, inclusive)")
    exporter.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    exporter.set_defaults(handler=run_export)


def run_import(args: argparse.Namespace) -> int:
    """Import the files, with a progress bar on a terminal."""
    began = time.perf_counter()
    paths = market.candle_files(args.paths)
    with market_store() as store, _Bar(len(paths), quiet=args.json) as advance:
        summary = market.import_files(
            store, paths, symbol=args.symbol, interval=args.interval, progress=advance
        )
    seconds = time.perf_counter() - began
    result = {
        "files": summary.files,
        "pairs": summary.pairs,
        "candles": summary.candles,
        "inserted": summary.inserted,
        "revised": summary.revised,
        "unchanged": summary.candles - summary.inserted - summary.revised,
        "seconds": round(seconds, 3),
    }
    if args.json:
        render.print_json(result)
    else:
        render.console().print(
            f"imported {result['files']} file(s), {result['pairs']} pair(s): "
            f"{result['candles']:,} candles, {result['inserted']:,} new, "
            f"{result['revised']:,} revised, {result['unchanged']:,} unchanged "
            f"in {seconds:.2f} s"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the candles as CSV."""
    with market_store(read_only=True) as store:
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                n = market.export_csv(
                    store, args.symbol, out, interval=args.interval, start=args.start, end=args.end
                )
            sys.stderr.write(f"wrote {n:,} candles to {args.output}\n")
        else:
            market.export_csv(
                store,
                args.symbol,
                sys.stdout,
                interval=args.interval,
                start=args.start,
                end=args.end,
            )
    return 0


class _Bar:
    """A rich progress bar over files, shown only on a terminal; yields the advance callback."""

    def __init__(self, total: int, *, quiet: bool) -> None:
        self._progress: Progress | None = None
        if not quiet and sys.stderr.isatty() and total > 1:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
        self._total = total

    def __enter__(self) -> market.Progress:
        progress = self._progress
        if progress is None:
            return lambda name, count: None
        progress.start()
        task = progress.add_task("importing", total=self._total)
        return lambda name, count: progress.update(task, advance=1, description=name)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
