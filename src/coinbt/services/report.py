"""Self-contained HTML reports of backtests (``coinbt backtest ... --report out.html``).

One file holds everything: plotly.js inlined from the installed ``plotly`` package, the
charts as JSON figures (equity against buy and hold, drawdown, price with the trades
marked), the metrics and the trades. It opens from disk without a server or a network.

Buy and hold is the initial investment times ``close[t] / close[0]`` on the same candles,
the curve whose end is ``buy_hold_return_pct`` (docs/metrics.md).
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coinbt.collector import files
from coinbt.domain.bars import Bars
from coinbt.domain.results import BacktestResult
from coinbt.domain.timeutil import format_ms
from coinbt.domain.trades import trades_to_dicts
from coinbt.errors import ConfigurationError, InputError
from coinbt.services.backtests import slice_bars
from coinbt.store.base import MarketStore

CANDLESTICK_LIMIT = 5_000
"""Above this many candles the price chart is a close line: candlesticks would be a blur
and make the file slow to open."""

DAY_MS = 86_400_000

METRIC_LABELS: dict[str, str] = {
    "total_return_pct": "Total return",
    "buy_hold_return_pct": "Buy & hold return",
    "cagr_pct": "CAGR",
    "volatility_pct": "Volatility (annual)",
    "sharpe_ratio": "Sharpe ratio",
    "sortino_ratio": "Sortino ratio",
    "calmar_ratio": "Calmar ratio",
    "max_drawdown_pct": "Max drawdown",
    "max_drawdown_bars": "Max drawdown length (bars)",
    "win_rate_pct": "Win rate",
    "profit_factor": "Profit factor",
    "expectancy_pct": "Expectancy per trade",
    "num_trades": "Trades",
    "exposure_pct": "Exposure",
    "avg_trade_pct": "Average trade (geometric)",
    "best_trade_pct": "Best trade",
    "worst_trade_pct": "Worst trade",
    "avg_trade_bars": "Average bars held",
    "fees_paid": "Fees paid",
    "final_equity": "Final equity",
}
"""Labels of the metrics, as the command line and the web page show them."""

_COUNTS = frozenset({"num_trades", "max_drawdown_bars"})
_UP, _DOWN, _ACCENT, _GREY = "#128a4a", "#c8322f", "#2457c5", "#8a96a3"


@dataclass(frozen=True)
class ReportItem:
    """One backtest and the candles it ran on (for buy and hold and the price chart)."""

    result: BacktestResult
    bars: Bars


def plotly_js() -> str:
    """The text of plotly.js from the installed ``plotly`` package (found without
    importing plotly's Python side)."""
    spec = importlib.util.find_spec("plotly")
    path = (
        Path(spec.origin).parent / "package_data" / "plotly.min.js"
        if spec and spec.origin
        else None
    )
    if path is None or not path.is_file():
        raise ConfigurationError(
            "plotly.js is not installed, so no report can be written",
            hint="pip install plotly",
        )
    return path.read_text(encoding="utf-8")


def file_bars(
    path: str | os.PathLike[str],
    *,
    start: str | None = None,
    end: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
) -> Bars:
    """The candles :func:`coinbt.services.backtests.run_file` runs on, read again."""
    return slice_bars(files.read_csv(path, symbol=symbol, interval=interval), start, end)


def stored_bars(store: MarketStore, result: BacktestResult) -> Bars:
    """The stored candles a result covers (its first to its last bar)."""
    if len(result.time) == 0:
        raise InputError(f"{result.symbol}: the backtest covers no candles", field="symbols")
    first, last = int(result.time[0]), int(result.time[-1])
    return store.read(result.symbol, result.interval, first, last)


def write_report(
    path: str | os.PathLike[str], items: Sequence[ReportItem], *, title: str | None = None
) -> Path:
    """Write the report of ``items`` to ``path`` (UTF-8); the path written."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{target} is a directory", hint="name a file: --report out.html")
    target.write_text(render_report(items, title=title), encoding="utf-8")
    return target


def render_report(items: Sequence[ReportItem], *, title: str | None = None) -> str:
    """The whole HTML document of the report of ``items``."""
    if not items:
        raise InputError("nothing to report", hint="run at least one backtest")
    heading = title or _title(items)
    sections = [_section(i, item) for i, item in enumerate(items)]
    overview = _overview(items) if len(items) > 1 else ""
    figures = {
        f"chart-{i}-{name}": fig for i, item in enumerate(items) for name, fig in _figures(item)
    }
    return _PAGE.format(
        title=_esc(heading),
        generated=_esc(format_ms(int(time.time() * 1000))),
        overview=overview,
        sections="\n".join(sections),
        style=_STYLE,
        plotly=plotly_js(),
        figures=_script_json(figures),
    )


def _title(items: Sequence[ReportItem]) -> str:
    first = items[0].result
    pairs = first.symbol if len(items) == 1 else f"{len(items)} pairs"
    return f"coinbt backtest: {first.strategy} on {pairs} ({first.interval.value})"


def _section(index: int, item: ReportItem) -> str:
    result = item.result
    charts = "".join(
        f'<div class="chart{" short" if name == "drawdown" else ""}" '
        f'id="chart-{index}-{name}"></div>'
        for name in ("equity", "drawdown", "price")
    )
    return (
        f'<section id="pair-{index}"><h2>{_esc(result.symbol)} · {_esc(result.strategy)} '
        f"({_esc(_params(result.parameters))}) · {_esc(result.interval.value)}</h2>"
        f'<p class="meta">{_esc(_facts(result))}</p>'
        f"{_metrics_table(result.metrics)}{charts}"
        f"<h3>Trades</h3>{_trades_table(result)}</section>"
    )


def _overview(items: Sequence[ReportItem]) -> str:
    names = ("total_return_pct", "buy_hold_return_pct", "sharpe_ratio", "max_drawdown_pct")
    head = "".join(f'<th class="num">{METRIC_LABELS[n]}</th>' for n in (*names, "num_trades"))
    rows = []
    for i, item in enumerate(items):
        m = item.result.metrics
        cells = "".join(
            f'<td class="num">{metric_text(n, m[n])}</td>' for n in (*names, "num_trades")
        )
        rows.append(f'<tr><td><a href="#pair-{i}">{_esc(item.result.symbol)}</a></td>{cells}</tr>')
    return (
        f'<table class="data"><thead><tr><th>Pair</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _metrics_table(metrics: dict[str, float | int]) -> str:
    rows = "".join(
        f'<tr data-metric="{_esc(name)}"><th>{_esc(METRIC_LABELS.get(name, name))}</th>'
        f'<td class="num">{metric_text(name, value)}</td></tr>'
        for name, value in metrics.items()
    )
    return f'<table class="data metrics"><tbody>{rows}</tbody></table>'


def _trades_table(result: BacktestResult) -> str:
    trades = trades_to_dicts(result.trades)
    if not trades:
        return '<p class="meta">no trades</p>'
    date_only = result.interval.ms >= DAY_MS
    head = "".join(
        f"<th{' class=num' if n else ''}>{label}</th>"
        for label, n in (
            ("Opened (UTC)", 0),
            ("Closed (UTC)", 0),
            ("Side", 0),
            ("Entry", 1),
            ("Exit", 1),
            ("Return", 1),
            ("Profit", 1),
            ("Bars", 1),
            ("Reason", 0),
        )
    )
    rows = "".join(_trade_row(t, date_only) for t in trades)
    return f'<table class="data trades"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _trade_row(t: dict[str, Any], date_only: bool) -> str:
    cells = (
        (_when(t["entry_time"], date_only), ""),
        (_when(t["exit_time"], date_only), ""),
        ("long" if t["direction"] > 0 else "short", ""),
        (price_text(t["entry_price"]), "num"),
        (price_text(t["exit_price"]), "num"),
        (f"{t['return_pct']:,.2f} %", "num"),
        (price_text(t["pnl"]), "num"),
        (f"{t['bars_held']:,}", "num"),
        (t["exit_reason"], ""),
    )
    return "<tr>" + "".join(f'<td class="{cls}">{_esc(text)}</td>' for text, cls in cells) + "</tr>"


def metric_text(name: str, value: float | int) -> str:
    """A metric for people, as the command line prints it (``12.34 %``, ``1,234``)."""
    if name.endswith("_pct"):
        return f"{value:,.2f} %"
    if name in _COUNTS:
        return f"{int(value):,}"
    return f"{value:,.2f}"


def price_text(value: float) -> str:
    """A price readable at any magnitude."""
    size = abs(value)
    if size >= 1000:
        return f"{value:,.2f}"
    if size >= 1:
        return f"{value:,.4f}"
    return f"{value:.8g}"


def _facts(result: BacktestResult) -> str:
    a = result.assumptions
    parts = [
        f"{_when(a['start'])} .. {_when(a['end'])} UTC, {a['bars']:,} candles",
        f"fee {100 * a['transaction_fee']:g} %",
        f"slippage {100 * a['slippage']:g} %",
        str(a["direction"]),
        f"fill at {a['fill']}",
        f"initial {a['initial_investment']:,.2f}",
    ]
    for key, label in (
        ("stop_loss_pct", "stop loss"),
        ("take_profit_pct", "take profit"),
        ("trailing_stop_pct", "trailing stop"),
    ):
        if a.get(key):
            parts.append(f"{label} {a[key]:g} %")
    return ", ".join(parts)


def _params(params: dict[str, Any]) -> str:
    return (
        ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        or "no parameters"
    )


def _when(ms: int | None, date_only: bool = False) -> str:
    if ms is None:
        return "-"
    text = format_ms(int(ms))
    return text[:10] if date_only else text


def _figures(item: ReportItem) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("equity", _equity_figure(item)),
        ("drawdown", _drawdown_figure(item.result)),
        ("price", _price_figure(item)),
    ]


def _axis_times(ms: Any) -> list[str]:
    # ISO text without a zone: plotly shows it as given, so the axes read in UTC.
    return [format_ms(int(t)).replace(" ", "T") for t in ms]


def _equity_figure(item: ReportItem) -> dict[str, Any]:
    result, bars = item.result, item.bars
    initial = float(result.config.initial_investment)
    hold = (initial * bars.close / bars.close[0]).tolist() if len(bars) else []
    data = [
        _line("strategy", _axis_times(result.time), result.equity.tolist(), _ACCENT, 2),
        {
            **_line("buy & hold", _axis_times(bars.time), hold, _GREY, 1.5),
            "line": {"color": _GREY, "width": 1.5, "dash": "dot"},
        },
    ]
    return {"data": data, "layout": _layout("equity")}


def _drawdown_figure(result: BacktestResult) -> dict[str, Any]:
    trace = _line("drawdown %", _axis_times(result.time), result.drawdown.tolist(), _DOWN, 1)
    trace["fill"] = "tozeroy"
    return {"data": [trace], "layout": {**_layout("drawdown %"), "showlegend": False}}


def _price_figure(item: ReportItem) -> dict[str, Any]:
    bars = item.bars
    x = _axis_times(bars.time)
    if len(bars) <= CANDLESTICK_LIMIT:
        price: dict[str, Any] = {
            "type": "candlestick",
            "name": "price",
            "x": x,
            "open": bars.open.tolist(),
            "high": bars.high.tolist(),
            "low": bars.low.tolist(),
            "close": bars.close.tolist(),
            "increasing": {"line": {"color": _UP}},
            "decreasing": {"line": {"color": _DOWN}},
        }
    else:
        price = _line("close", x, bars.close.tolist(), "#44505e", 1.2)
    trades = trades_to_dicts(item.result.trades)
    data = [
        price,
        _marks(trades, "entry", "triangle-up", _UP),
        _marks(trades, "exit", "triangle-down", _DOWN),
    ]
    layout = {
        **_layout("price"),
        "hovermode": "closest",
        "xaxis": {"type": "date", "rangeslider": {"visible": False}},
    }
    return {"data": data, "layout": layout}


def _marks(trades: list[dict[str, Any]], end: str, symbol: str, color: str) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": "entries" if end == "entry" else "exits",
        "x": _axis_times(t[f"{end}_time"] for t in trades),
        "y": [t[f"{end}_price"] for t in trades],
        "text": [
            f"{t['exit_reason']}, {t['return_pct']:.2f} %" if end == "exit" else "entry"
            for t in trades
        ],
        "marker": {
            "symbol": symbol,
            "size": 10,
            "color": color,
            "line": {"color": "#fff", "width": 1},
        },
    }


def _line(name: str, x: list[str], y: list[float], color: str, width: float) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": x,
        "y": y,
        "line": {"color": color, "width": width},
    }


def _layout(y_title: str) -> dict[str, Any]:
    return {
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
        "legend": {"orientation": "h", "x": 0, "y": 1.12},
        "hovermode": "x unified",
        "xaxis": {"type": "date"},
        "yaxis": {"title": {"text": y_title}},
    }


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _script_json(payload: Any) -> str:
    # JSON inside <script>: "</" would end the element early.
    return json.dumps(payload, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
  max-width: 1200px; padding: 0 1rem 2rem; color: #1d232b; background: #f6f7f9; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #5f6b7a; font-size: 0.9rem; }
table.data { border-collapse: collapse; background: #fff; border: 1px solid #dde2e8;
  font-variant-numeric: tabular-nums; margin: 0.5rem 0; }
table.data th, table.data td { padding: 0.3rem 0.6rem; border-bottom: 1px solid #dde2e8;
  text-align: left; white-space: nowrap; }
table.data .num { text-align: right; }
table.metrics { min-width: 22rem; }
.chart { height: 360px; background: #fff; border: 1px solid #dde2e8; margin: 0.6rem 0; }
.chart.short { height: 240px; }
@media (max-width: 700px) { table.data { display: block; overflow-x: auto; } }
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script>{plotly}</script>
</head>
<body>
<h1>{title}</h1>
<p class="meta">Written by coinbt on {generated} UTC. Times are candle open times in UTC;
buy &amp; hold is the initial investment held over the same candles, without fees.</p>
{overview}
{sections}
<script id="figures" type="application/json">{figures}</script>
<script>
(function () {{
  var figures = JSON.parse(document.getElementById("figures").textContent);
  var config = {{ responsive: true, displaylogo: false, scrollZoom: true }};
  Object.keys(figures).forEach(function (id) {{
    Plotly.newPlot(id, figures[id].data, figures[id].layout, config);
  }});
}})();
</script>
</body>
</html>
"""
