// Plotly figures of the page: candles with volume, equity against buy and hold, drawdown,
// price with trades, and returns across pairs.

import { axisTime } from "./format.js";

const UP = "#128a4a";
const DOWN = "#c8322f";
const ACCENT = "#2457c5";
const GREY = "#8a96a3";

// Zoom with the mouse wheel and a box, pan from the mode bar; no plotly logo (it links out).
const CONFIG = { responsive: true, displaylogo: false, scrollZoom: true };

function layout(extra = {}) {
  return {
    margin: { l: 60, r: 20, t: 30, b: 40 },
    legend: { orientation: "h", x: 0, y: 1.12 },
    hovermode: "x unified",
    font: { family: "system-ui, sans-serif", size: 12 },
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    ...extra,
  };
}

// plotly.js is large (MBs): load it on the first chart rather than before the first page.
let loading = null;
function loadPlotly() {
  loading ||= new Promise((resolve, reject) => {
    if (window.Plotly) return resolve(window.Plotly);
    const script = document.createElement("script");
    script.src = "/static/vendor/plotly.min.js";
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => {
      loading = null;
      reject(new Error("plotly.js did not load: is the plotly package installed?"));
    };
    document.head.append(script);
  });
  return loading;
}

async function draw(node, traces, extra) {
  const Plotly = await loadPlotly();
  return Plotly.react(node, traces, layout(extra), CONFIG);
}

/** Candlesticks over volume bars, sharing the time axis; gaps shaded when given. */
export function candles(node, cols, title, gaps = [], step = 0) {
  const x = cols.time.map(axisTime);
  const rising = cols.close.map((c, i) => (c >= cols.open[i] ? UP : DOWN));
  const traces = [
    { type: "candlestick", name: "price", x, open: cols.open, high: cols.high, low: cols.low, close: cols.close,
      increasing: { line: { color: UP } }, decreasing: { line: { color: DOWN } }, yaxis: "y" },
    { type: "bar", name: "volume", x, y: cols.volume, marker: { color: rising, opacity: 0.45 }, yaxis: "y2" },
  ];
  return draw(node, traces, {
    title: { text: title, x: 0.01, font: { size: 14 } },
    showlegend: false,
    hovermode: "x",
    xaxis: { type: "date", rangeslider: { visible: false } },
    yaxis: { domain: [0.27, 1], title: { text: "price" } },
    yaxis2: { domain: [0, 0.22], title: { text: "volume" } },
    shapes: gaps.map((gap) => gapShape(gap, step)),
  });
}

// A gap spans its missing bars; an outline keeps a gap of one bar visible on a long axis.
// Known outages of the exchange (nothing to refetch) are grey, other gaps amber.
function gapShape(gap, step) {
  const [fill, line] = gap.known ? [GREY, "#6b7683"] : ["#f0b429", "#d99a00"];
  return { type: "rect", xref: "x", yref: "paper", x0: axisTime(gap.start - step / 2), x1: axisTime(gap.end + step / 2),
    y0: 0, y1: 1, fillcolor: fill, opacity: 0.35, line: { width: 1, color: line } };
}

/** The strategy's equity against buy and hold of the same cash (on the candles' times). */
export function equity(node, time, values, buyHold) {
  const traces = [
    { type: "scatter", mode: "lines", name: "strategy", x: time.map(axisTime), y: values, line: { color: ACCENT, width: 2 } },
    { type: "scatter", mode: "lines", name: "buy & hold", x: buyHold.time.map(axisTime), y: buyHold.values,
      line: { color: GREY, width: 1.5, dash: "dot" } },
  ];
  return draw(node, traces, { yaxis: { title: { text: "equity" } }, xaxis: { type: "date" } });
}

/** Percent below the running equity peak. */
export function drawdown(node, time, values) {
  const traces = [{ type: "scatter", mode: "lines", name: "drawdown %", x: time.map(axisTime), y: values,
    fill: "tozeroy", line: { color: DOWN, width: 1 } }];
  return draw(node, traces, { showlegend: false, yaxis: { title: { text: "drawdown %" } }, xaxis: { type: "date" } });
}

/** Closing prices with each trade's entry and exit marked. */
export function priceWithTrades(node, cols, trades) {
  const traces = [
    { type: "scatter", mode: "lines", name: "close", x: cols.time.map(axisTime), y: cols.close, line: { color: "#44505e", width: 1.2 } },
    tradeMarks(trades, "entry", "triangle-up", UP),
    tradeMarks(trades, "exit", "triangle-down", DOWN),
  ];
  return draw(node, traces, { hovermode: "closest", yaxis: { title: { text: "price" } }, xaxis: { type: "date" } });
}

function tradeMarks(trades, end, symbol, color) {
  const text = trades.map((t) => `${t.direction > 0 ? "long" : "short"} ${end}` +
    (end === "exit" ? ` (${t.return_pct.toFixed(2)} %, ${t.exit_reason})` : ""));
  return { type: "scatter", mode: "markers", name: end === "entry" ? "entries" : "exits",
    x: trades.map((t) => axisTime(t[`${end}_time`])), y: trades.map((t) => t[`${end}_price`]),
    text, hoverinfo: "x+y+text", marker: { symbol, size: 11, color, line: { color: "#fff", width: 1 } } };
}

/** Total return of each pair, best first, with buy and hold beside it. */
export function returns(node, rows) {
  const sorted = rows.slice().sort((a, b) => b.metrics.total_return_pct - a.metrics.total_return_pct);
  const x = sorted.map((r) => r.symbol);
  const values = sorted.map((r) => r.metrics.total_return_pct);
  const traces = [
    { type: "bar", name: "strategy return %", x, y: values, marker: { color: values.map((v) => (v >= 0 ? UP : DOWN)) } },
    { type: "scatter", mode: "markers", name: "buy & hold %", x, y: sorted.map((r) => r.metrics.buy_hold_return_pct),
      marker: { color: "#1d232b", symbol: "diamond", size: 8 } },
  ];
  return draw(node, traces, { hovermode: "closest", yaxis: { title: { text: "return %" } }, xaxis: { type: "category" } });
}
