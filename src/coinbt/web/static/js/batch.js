// Batch view: one strategy over many pairs through POST /api/crypto/backtest/batch with
// stream=true. Progress is shown live as each pair's event arrives; the final summary
// event fills a sortable results table, best and worst, and a chart of returns.

import * as api from "./api.js";
import * as charts from "./charts.js";
import * as fmt from "./format.js";
import { strategyForm } from "./strategy.js";
import { clearErrors, el, showError, sortableTable, status } from "./ui.js";

const FEED_ITEMS = 200; // the live list keeps the latest ones; the table has them all

let ctx;
let form;
let strategy = null;
const live = { total: 0, done: 0, failed: 0 };
const tableSort = { key: "total_return_pct", desc: true };

export function init(context) {
  ctx = context;
  form = document.getElementById("batch-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run().catch((err) => failed(err));
  });
  for (const radio of form.querySelectorAll("input[name=scope]")) radio.addEventListener("change", scopeChanged);
  form.querySelector(".pair-filter").addEventListener("input", filterBoxes);
  form.querySelector("[data-pick=all]").addEventListener("click", () => pickShown(true));
  form.querySelector("[data-pick=none]").addEventListener("click", () => pickShown(false));
}

export async function show() {
  if (!strategy) await setup();
  status("");
}

async function setup() {
  const [pairs, strategies] = await Promise.all([ctx.pairs(), ctx.strategies()]);
  const boxes = pairs.map((p) => el("label", { "data-symbol": p.symbol },
    el("input", { type: "checkbox", name: "pair", value: p.symbol }), p.symbol));
  form.querySelector(".pair-boxes").replaceChildren(...boxes);
  const quotes = [...new Set(pairs.map((p) => p.quote).filter(Boolean))].sort();
  form.elements.quote.replaceChildren(...quotes.map((q) => el("option", { value: q }, q)));
  const intervals = [...new Set(pairs.flatMap((p) => p.series.map((s) => s.interval)))];
  form.elements.interval.replaceChildren(...(intervals.length ? intervals : ["1d"]).map((i) => el("option", { value: i }, i)));
  form.elements.interval.value = intervals.includes("1d") || !intervals.length ? "1d" : intervals[0];
  strategy = strategyForm(form, strategies);
}

function scopeChanged() {
  form.querySelector(".pair-picker").hidden = form.elements.scope.value !== "chosen";
}

function filterBoxes(event) {
  const text = event.target.value.trim().toUpperCase();
  for (const label of form.querySelectorAll(".pair-boxes label")) label.hidden = !label.dataset.symbol.includes(text);
}

function pickShown(checked) {
  for (const label of form.querySelectorAll(".pair-boxes label")) {
    if (!label.hidden) label.querySelector("input").checked = checked;
  }
}

/** The request the form describes. */
export function request() {
  const f = form.elements;
  const scope = f.scope.value;
  const chosen = [...form.querySelectorAll("input[name=pair]:checked")].map((box) => box.value);
  return { crypto_ids: scope === "chosen" ? chosen : "all", quote: scope === "quote" ? f.quote.value : null,
    interval: f.interval.value, start_date: f.start_date.value || null, end_date: f.end_date.value || null,
    ...strategy.values(), stream: true };
}

async function run() {
  clearErrors(form);
  const body = request();
  if (!strategy.valid()) return showError(form, { message: "fix the marked fields first" });
  if (Array.isArray(body.crypto_ids) && !body.crypto_ids.length) {
    return showError(form, { field: "crypto_ids", message: "choose at least one pair, or all pairs" });
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  startLive(Array.isArray(body.crypto_ids) ? body.crypto_ids.length : 0);
  try {
    let summary = null;
    let failure = null;
    await api.postStream("/crypto/backtest/batch", body, (event) => {
      if (event.event === "failed") failure = event.data;
      else summary = onEvent(event) || summary;
    }, (event) => event.event === "summary" || event.event === "failed");
    if (failure) throw new api.ApiError(500, failure);
    if (!summary) throw new Error("the batch ended without a summary");
  } finally {
    button.disabled = false;
  }
}

function failed(err) {
  if (err instanceof api.ApiError) showError(form, err);
  status(`error: ${err.message}`, true);
}

function onEvent({ event, data }) {
  if (event === "started") setTotal(data.total_cryptocurrencies);
  else if (event === "pair") pairDone(data);
  else if (event === "summary") return finish(data);
  return null;
}

function startLive(total) {
  Object.assign(live, { total, done: 0, failed: 0 });
  document.getElementById("batch-live").hidden = false;
  document.getElementById("batch-result").hidden = true;
  document.getElementById("batch-feed").replaceChildren();
  progress();
  status("batch running…");
}

function setTotal(total) {
  live.total = total;
  progress();
}

function progress() {
  const bar = document.getElementById("batch-progress");
  bar.max = Math.max(1, live.total);
  bar.value = live.done;
  const failures = live.failed ? `, ${live.failed} failed` : "";
  document.getElementById("batch-count").textContent = `${live.done} / ${live.total} pairs${failures}`;
}

function pairDone(entry) {
  live.done += 1;
  if (!entry.ok) live.failed += 1;
  progress();
  const text = entry.ok
    ? `${entry.symbol}: ${fmt.pct(entry.metrics.total_return_pct)}${entry.cached ? " (cached)" : ""}`
    : `${entry.symbol || entry.crypto_id || "?"}: ${entry.message}`;
  const feed = document.getElementById("batch-feed");
  feed.append(el("li", { class: entry.ok ? "" : "failed", "data-symbol": entry.symbol || "" }, text));
  while (feed.children.length > FEED_ITEMS) feed.firstChild.remove();
  feed.scrollTop = feed.scrollHeight; // keep the latest pair in view
}

function finish(report) {
  const rows = Object.values(report.results || {});
  const errors = Object.entries(report.errors || {});
  summaryFigures(report.summary);
  resultsTable(rows, report.summary);
  errorList(errors);
  document.getElementById("batch-result").hidden = false;
  charts.returns(document.getElementById("batch-chart"), rows);
  status(`batch done: ${rows.length} pairs ran, ${errors.length} failed`);
  return report;
}

function summaryFigures(s) {
  const standing = (x) => (x ? `${x.symbol} ${fmt.pct(x.return)}` : "—");
  const figures = [
    ["Pairs", fmt.count(s.total_cryptocurrencies)],
    ["Ran", fmt.count(s.successful_backtests)],
    ["Failed", fmt.count(s.failed_backtests)],
    ["Average return", fmt.pct(s.average_return)],
    ["Best", standing(s.best_performing)],
    ["Worst", standing(s.worst_performing)],
    ["Time", `${s.execution_time_seconds.toFixed(3)} s (reading ${s.fetch_time_seconds.toFixed(3)} s)`],
  ];
  document.getElementById("batch-summary").replaceChildren(...figures.map(([label, value]) =>
    el("div", {}, el("dt", {}, label), el("dd", {}, value))));
}

const metricColumn = (name, label) => ({ key: name, label, num: true, value: (r) => r.metrics[name],
  render: (r) => el("span", { class: name.endsWith("return_pct") ? fmt.signClass(r.metrics[name]) : "" }, fmt.metric(name, r.metrics[name])) });

const COLUMNS = [
  { key: "symbol", label: "Pair", render: (r) => el("a", { class: "sym", href: `#backtest/${encodeURIComponent(r.symbol)}` }, r.symbol) },
  metricColumn("total_return_pct", "Return"),
  metricColumn("buy_hold_return_pct", "Buy & hold"),
  metricColumn("sharpe_ratio", "Sharpe"),
  metricColumn("max_drawdown_pct", "Max drawdown"),
  metricColumn("win_rate_pct", "Win rate"),
  metricColumn("num_trades", "Trades"),
  { key: "bars", label: "Candles", num: true, render: (r) => fmt.count(r.bars) },
  { key: "start", label: "From (UTC)", render: (r) => fmt.when(r.start, true) },
  { key: "end", label: "To (UTC)", render: (r) => fmt.when(r.end, true) },
];

function resultsTable(rows, summary) {
  const best = summary.best_performing && summary.best_performing.crypto_id;
  const worst = summary.worst_performing && summary.worst_performing.crypto_id;
  sortableTable(document.getElementById("batch-table"), COLUMNS, rows, tableSort, (tr, row) => {
    tr.dataset.symbol = row.symbol;
    if (row.crypto_id === best) tr.classList.add("best");
    if (row.crypto_id === worst && rows.length > 1) tr.classList.add("worst");
  });
}

function errorList(errors) {
  document.getElementById("batch-errors-panel").hidden = !errors.length;
  document.getElementById("batch-errors").replaceChildren(...errors.map(([key, e]) =>
    el("li", {}, `${e.symbol || key}: ${e.message}${e.hint ? ` — ${e.hint}` : ""}`)));
}
