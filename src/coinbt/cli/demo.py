"""``coinbt demo``: the bundled real sample in the embedded store, a backtest over every pair,
then the dashboard served at http://127.0.0.1:8000/."""

from __future__ import annotations

import argparse
import time
from typing import Any

from coinbt.cli import render, serve
from coinbt.cli.context import market_store
from coinbt.cli.options import (
    add_execution_flags,
    add_strategy_flags,
    execution_options,
    strategy_params,
)
from coinbt.domain.results import BacktestResult, BatchResult
from coinbt.services import backtests, market

RANK_BY = "total_return_pct"


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``demo`` command to ``commands`` (an argparse subparsers object)."""
    parser = commands.add_parser(
        "demo",
        parents=[parent],
        help="load the bundled real sample, backtest it, serve the dashboard",
        description="Load the bundled real Binance sample into the store (COINBT_DATABASE_URL, "
        "the embedded DuckDB file by default), backtest a strategy on every pair, print the "
        "table, then serve the dashboard and API. --json prints the backtest only.",
    )
    add_strategy_flags(parser, default=backtests.DEMO_STRATEGY)
    add_execution_flags(parser)
    parser.add_argument(
        "--interval", choices=("1d", "1h"), default=backtests.DEMO_INTERVAL, help="candles"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-serve", action="store_true", help="load and print, then stop")
    parser.add_argument("--host", help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--port", type=serve.port_number, help="port (default 8000)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo backtest and print one row per pair."""
    began = time.perf_counter()
    batch = backtests.run_sample_demo(
        args.strategy, strategy_params(args.param), execution_options(args), args.interval
    )
    seconds = time.perf_counter() - began
    provenance = backtests.sample_provenance()
    if args.json:
        render.print_json(summary(batch, provenance, seconds))
        return 0
    show(batch, provenance, seconds)
    load_sample()
    if args.no_serve:
        return 0
    return serve.run(argparse.Namespace(host=args.host, port=args.port, log_level="warning"))


def load_sample() -> None:
    """Put the bundled sample into the store (again: nothing changes) and say so."""
    began = time.perf_counter()
    with market_store() as store:
        loaded = market.load_sample(store)
        where = f"{store.backend} at {store.location}"
    render.console().print(
        f"sample in the store ({where}): {loaded.pairs} pairs, {loaded.candles:,} candles, "
        f"{loaded.inserted:,} new, in {time.perf_counter() - began:.1f} s"
    )


def ranked(batch: BatchResult) -> list[BacktestResult]:
    """The results, best total return first."""
    return sorted(batch.results, key=lambda r: r.metrics[RANK_BY], reverse=True)


def summary(batch: BatchResult, provenance: str, seconds: float) -> dict[str, Any]:
    """The demo as JSON: the run, one entry per pair, best and worst, provenance."""
    first = batch.results[0]
    order = ranked(batch)
    return {
        "strategy": first.strategy,
        "parameters": dict(first.parameters),
        "interval": first.interval.value,
        "assumptions": first.config.to_dict(),
        "pairs": [_pair(r) for r in order],
        "best": order[0].symbol,
        "worst": order[-1].symbol,
        "last_candle": max(r.assumptions["end"] for r in batch.results),
        "provenance": provenance,
        "seconds": round(seconds, 4),
    }


def _pair(result: BacktestResult) -> dict[str, Any]:
    facts = result.assumptions
    return {
        "symbol": result.symbol,
        "start": facts["start"],
        "end": facts["end"],
        "bars": facts["bars"],
        "metrics": dict(result.metrics),
    }


def show(batch: BatchResult, provenance: str, seconds: float) -> None:
    """The results table, best and worst pair, provenance and timing."""
    out = render.console()
    first = batch.results[0]
    order = ranked(batch)
    out.print(
        f"{first.strategy} ({render.params_text(first.parameters)}) on {len(order)} sample "
        f"pairs, {first.interval.value} candles"
    )
    out.print(f"assumptions: {render.assumptions_text(first.assumptions)}")
    out.print(results_table(order))
    out.print(f"best: {_brief(order[0])}   worst: {_brief(order[-1])}")
    last = max(r.assumptions["end"] for r in order)
    out.print(f"sample: {provenance} Last candle in this run: {render.when(last)} UTC.")
    out.print(f"took {seconds:.2f} s")


def results_table(results: list[BacktestResult]) -> Any:
    """One row per pair: return, buy & hold, Sharpe, drawdown, trades."""
    names = ("total_return_pct", "buy_hold_return_pct", "sharpe_ratio", "max_drawdown_pct")
    columns = ("return", "buy & hold", "sharpe", "max drawdown", "trades")
    table = render.table("pair", "candles", *columns, right={"candles", *columns})
    for r in results:
        cells = [render.metric(n, r.metrics[n]) for n in (*names, "num_trades")]
        table.add_row(r.symbol, f"{len(r.time):,}", *cells)
    return table


def _brief(result: BacktestResult) -> str:
    return f"{result.symbol} {render.metric(RANK_BY, result.metrics[RANK_BY])}"
