"""``coinbt backtest``: one strategy on one pair's candles."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from coinbt.cli import demo, render
from coinbt.cli.context import market_store
from coinbt.cli.options import (
    add_execution_flags,
    add_strategy_flags,
    execution_options,
    strategy_params,
)
from coinbt.domain.results import BacktestResult
from coinbt.domain.trades import trades_to_dicts
from coinbt.errors import InputError
from coinbt.services import backtests, report

LAST_TRADES = 5
DAY_MS = 86_400_000


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``backtest`` command to ``commands`` (an argparse subparsers object)."""
    parser = commands.add_parser(
        "backtest",
        parents=[parent],
        help="run a strategy on one pair's candles",
        description="Run a strategy on one pair's candles and print its metrics and trades.",
    )
    parser.add_argument(
        "symbols", nargs="*", metavar="SYMBOL", help="pairs from the store (with the store)"
    )
    parser.add_argument(
        "--data", metavar="FILE.csv", help="candles: timestamp_ms,open,high,low,close,volume"
    )
    add_strategy_flags(parser)
    add_execution_flags(parser)
    parser.add_argument("--start", metavar="DATE", help="first candle open time (UTC)")
    parser.add_argument("--end", metavar="DATE", help="last candle open time (UTC, inclusive)")
    parser.add_argument("--symbol", help="the pair's symbol, if the file name does not say")
    parser.add_argument("--interval", help="the candle interval, if the file name does not say")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--report",
        metavar="FILE.html",
        help="also write a self-contained HTML report (charts, metrics, trades)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the backtest the flags describe and print it."""
    _check_source(args.symbols, args.data)
    if args.symbols:
        return _run_stored(args)
    result = backtests.run_file(
        args.data,
        args.strategy,
        strategy_params(args.param),
        execution_options(args),
        start=args.start,
        end=args.end,
        symbol=args.symbol,
        interval=args.interval,
    )
    if args.report:
        bars = report.file_bars(
            args.data, start=args.start, end=args.end, symbol=args.symbol, interval=args.interval
        )
        _write_report(args.report, [report.ReportItem(result, bars)])
    if args.json:
        render.print_json(result.to_dict())
    else:
        show(result)
    return 0


def _write_report(path: str, items: list[report.ReportItem]) -> None:
    written = report.write_report(path, items)
    # stderr: with --json, stdout holds the JSON alone.
    sys.stderr.write(f"report written to {written}\n")


def _check_source(symbols: list[str], data: str | None) -> None:
    if symbols and data:
        raise InputError(
            "give either SYMBOL... or --data FILE, not both",
            hint="with --data, name the pair with --symbol",
            field="symbols",
        )
    if not symbols and not data:
        raise InputError(
            "nothing to backtest", hint="name stored pairs (BTCUSDT ...) or a file: --data FILE.csv"
        )


def _run_stored(args: argparse.Namespace) -> int:
    with market_store(read_only=True) as store:
        batch = backtests.run_stored(
            store,
            args.symbols,
            args.strategy,
            strategy_params(args.param),
            execution_options(args),
            interval=args.interval or "1d",
            start=args.start,
            end=args.end,
        )
        if args.report:
            items = [report.ReportItem(r, report.stored_bars(store, r)) for r in batch.results]
            _write_report(args.report, items)
    if args.json:
        payload = [r.to_dict() for r in batch.results]
        render.print_json(payload[0] if len(payload) == 1 else payload)
    elif len(batch.results) == 1:
        show(batch.results[0])
    else:
        render.console().print(demo.results_table(demo.ranked(batch)))
    return 0


def show(result: BacktestResult) -> None:
    """Header lines, the metrics table and a short trades summary."""
    out = render.console()
    facts = result.assumptions
    out.print(
        f"{result.strategy} ({render.params_text(result.parameters)}) "
        f"on {result.symbol} {facts['interval']}"
    )
    out.print(
        f"{render.when(facts['start'])} .. {render.when(facts['end'])} UTC, "
        f"{facts['bars']:,} candles"
    )
    out.print(f"assumptions: {render.assumptions_text(facts)}")
    out.print(metrics_table(result.metrics))
    show_trades(result)


def metrics_table(metrics: dict[str, float | int]) -> Any:
    """Every metric with its label and unit."""
    table = render.table("metric", "value", right={"value"})
    for name, value in metrics.items():
        table.add_row(report.METRIC_LABELS.get(name, name), render.metric(name, value))
    return table


def show_trades(result: BacktestResult) -> None:
    """How many trades, how many won, and the last few."""
    out = render.console()
    trades = result.trades
    if len(trades) == 0:
        out.print("no trades")
        return
    won = int((trades["pnl"] > 0).sum())
    last = trades_to_dicts(trades[-LAST_TRADES:])
    shown = f"; the last {len(last)}" if len(trades) > len(last) else ""
    out.print(f"{len(trades)} trade(s), {won} won{shown}:")
    out.print(trades_table(last, date_only=result.interval.ms >= DAY_MS))


def trades_table(trades: list[dict[str, Any]], *, date_only: bool = False) -> Any:
    """Entry and exit of each trade (UTC), its return and why it closed."""
    columns = ("opened", "closed", "side", "entry price", "exit price", "return", "reason")
    table = render.table(*columns, right={"entry price", "exit price", "return"})
    for t in trades:
        table.add_row(
            render.when(t["entry_time"], date_only=date_only),
            render.when(t["exit_time"], date_only=date_only),
            "long" if t["direction"] > 0 else "short",
            render.price(t["entry_price"]),
            render.price(t["exit_price"]),
            f"{t['return_pct']:,.2f} %",
            t["exit_reason"],
        )
    return table
