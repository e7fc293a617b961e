// Backtest view: one strategy on one pair through POST /api/crypto/backtest/run; shows the
// metrics, equity against buy and hold, the drawdown, and the trades on the price chart
// and in a table.

import * as api from "./api.js";
import * as charts from "./charts.js";
import * as fmt from "./format.js";
import { strategyForm } from "./strategy.js";
import { clearErrors, el, showError, sortableTable, status } from "./ui.js";

// Enough points for a smooth curve at any screen width; the metrics use every bar.
const MAX_POINTS = 4000;

let ctx;
let form;
let strategy = null;
const tradeSort = { key: "entry_time", desc: false };

export function init(context) {
  ctx = context;
  form = document.getElementById("bt-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run().catch((err) => failed(err));
  });
  form.elements.crypto_id.addEventListener("change", () => fillIntervals());
}

export async function show(symbol) {
  if (!strategy) await setup();
  if (symbol) {
    form.elements.crypto_id.value = symbol;
    fillIntervals();
  }
  status("");
}

async function setup() {
  const [pairs, strategies] = await Promise.all([ctx.pairs(), ctx.strategies()]);
  form.elements.crypto_id.replaceChildren(...pairs.map((p) => el("option", { value: p.symbol }, p.symbol)));
  strategy = strategyForm(form, strategies);
  fillIntervals();
}

// The intervals the chosen pair has candles for (its own, and the 1d/1w rollups).
async function fillIntervals() {
  const pairs = await ctx.pairs();
  const pair = pairs.find((p) => p.symbol === form.elements.crypto_id.value);
  const intervals = [...new Set((pair ? pair.series : []).map((s) => s.interval))];
  const select = form.elements.interval;
  const previous = select.value;
  select.replaceChildren(...(intervals.length ? intervals : ["1d"]).map((i) => el("option", { value: i }, i)));
  select.value = intervals.includes(previous) ? previous : intervals.includes("1d") ? "1d" : select.options[0].value;
}

/** The request the form describes (also what the e2e test sends to compare). */
export function request() {
  const f = form.elements;
  return { crypto_id: f.crypto_id.value, interval: f.interval.value, start_date: f.start_date.value || null,
    end_date: f.end_date.value || null, ...strategy.values(), max_points: MAX_POINTS };
}

async function run() {
  clearErrors(form);
  if (!strategy.valid()) {
    showError(form, { message: "fix the marked fields first" });
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  status("running the backtest…");
  try {
    const body = request();
    const result = await api.post("/crypto/backtest/run", body);
    const candles = await api.get(`/crypto/${encodeURIComponent(result.symbol)}/candles`,
      { interval: result.interval, start: result.assumptions.start, end: result.assumptions.end });
    await render(result, api.candleColumns(candles));
    status(`${result.symbol}: ${result.strategy} done${result.cached ? " (cached)" : ""}`);
  } finally {
    button.disabled = false;
  }
}

function failed(err) {
  // A result left on screen would look like the answer to the request that failed.
  document.getElementById("bt-result").hidden = true;
  if (err instanceof api.ApiError) {
    showError(form, err);
    status(`error: ${err.message}`, true);
  } else {
    status(`error: ${err.message}`, true);
    console.error(err);
  }
}

async function render(result, cols) {
  const box = document.getElementById("bt-result");
  box.hidden = false;
  box.dataset.runId = String(result.run_id);
  meta(result);
  metrics(result.metrics);
  const curve = result.equity_curve || { time: [], equity: [], drawdown_pct: [] };
  const initial = result.assumptions.initial_investment;
  const buyHold = cols.close.map((c) => (initial * c) / cols.close[0]);
  await charts.equity(document.getElementById("bt-equity"), curve.time, curve.equity, { time: cols.time, values: buyHold });
  await charts.drawdown(document.getElementById("bt-drawdown"), curve.time, curve.drawdown_pct);
  await charts.priceWithTrades(document.getElementById("bt-price"), cols, result.trades || []);
  trades(result.trades || [], result.interval);
}

function meta(result) {
  const a = result.assumptions;
  const params = Object.entries(result.parameters).map(([k, v]) => `${k}=${v}`).join(", ") || "no parameters";
  const stops = [["stop_loss_pct", "stop loss"], ["take_profit_pct", "take profit"], ["trailing_stop_pct", "trailing stop"]]
    .filter(([key]) => a[key]).map(([key, label]) => `${label} ${a[key]} %`);
  const percent = (fraction) => Number((fraction * 100).toPrecision(10)); // 0.0007 → 0.07, not 0.06999…
  const facts = [`fee ${percent(a.transaction_fee)} %`, `slippage ${percent(a.slippage)} %`, a.direction, `fill at ${a.fill}`,
    `initial ${fmt.price(a.initial_investment)}`, ...stops];
  document.getElementById("bt-meta").textContent =
    `${result.strategy} (${params}) on ${result.symbol} ${result.interval}, ${fmt.when(a.start)} .. ${fmt.when(a.end)} UTC, ` +
    `${fmt.count(a.bars)} candles · ${facts.join(", ")} · run #${result.run_id}${result.cached ? " (cached)" : ""}`;
}

function metrics(values) {
  const items = Object.keys(fmt.METRIC_LABELS).filter((name) => name in values).map((name) =>
    el("div", { "data-metric": name }, el("dt", {}, fmt.METRIC_LABELS[name]),
      el("dd", { "data-value": String(values[name]), class: name.endsWith("_pct") && name !== "max_drawdown_pct" ? fmt.signClass(values[name]) : "" },
        fmt.metric(name, values[name]))));
  document.getElementById("bt-metrics").replaceChildren(...items);
}

const TRADE_COLUMNS = (dateOnly) => [
  { key: "entry_time", label: "Opened (UTC)", render: (t) => fmt.when(t.entry_time, dateOnly) },
  { key: "exit_time", label: "Closed (UTC)", render: (t) => fmt.when(t.exit_time, dateOnly) },
  { key: "direction", label: "Side", render: (t) => (t.direction > 0 ? "long" : "short") },
  { key: "entry_price", label: "Entry", num: true, render: (t) => fmt.price(t.entry_price) },
  { key: "exit_price", label: "Exit", num: true, render: (t) => fmt.price(t.exit_price) },
  { key: "return_pct", label: "Return", num: true, render: (t) => el("span", { class: fmt.signClass(t.return_pct) }, fmt.pct(t.return_pct)) },
  { key: "pnl", label: "Profit", num: true, render: (t) => fmt.price(t.pnl) },
  { key: "bars_held", label: "Bars", num: true, render: (t) => fmt.count(t.bars_held) },
  { key: "exit_reason", label: "Reason", render: (t) => t.exit_reason },
];

function trades(rows, interval) {
  const dateOnly = interval === "1d" || interval === "1w";
  sortableTable(document.getElementById("bt-trades"), TRADE_COLUMNS(dateOnly), rows, tradeSort);
  const won = rows.filter((t) => t.pnl > 0).length;
  document.getElementById("bt-trade-count").textContent = `${rows.length} trade(s), ${won} won`;
}
