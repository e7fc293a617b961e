// Market view: the dashboard summary of every pair, sortable and filterable, with the top
// gainers and losers of the last 24 hours, and when the data was last collected.

import * as api from "./api.js";
import * as fmt from "./format.js";
import { el, sortableTable, status } from "./ui.js";

const MOVERS = 5;

const link = (row) => el("a", { class: "sym", href: `#pair/${encodeURIComponent(row.symbol)}` }, row.symbol);
const change = (row) => el("span", { class: fmt.signClass(row.change_24h_percent) }, fmt.pct(row.change_24h_percent));
const num = (key, label, render) => ({ key, label, num: true, render: (row) => render(row[key]) });

const COLUMNS = [
  { key: "symbol", label: "Pair", render: link },
  num("current_price", "Price", fmt.price),
  { key: "change_24h_percent", label: "24h", num: true, render: change },
  num("high_7d", "7d high", fmt.price),
  num("low_7d", "7d low", fmt.price),
  num("volume_7d", "7d volume", fmt.amount),
  num("high_30d", "30d high", fmt.price),
  num("low_30d", "30d low", fmt.price),
  num("volume_30d", "30d volume", fmt.amount),
  num("all_time_high", "All-time high", fmt.price),
  num("all_time_low", "All-time low", fmt.price),
  num("total_days", "Days", fmt.count),
  { key: "last_updated", label: "Last candle (UTC)", num: true, render: (row) => fmt.when(row.last_updated) },
];

const state = { rows: [], sort: { key: "symbol", desc: false }, filter: "" };
let table;

export function init() {
  table = document.getElementById("market-table");
  document.getElementById("market-filter").addEventListener("input", (event) => {
    state.filter = event.target.value.trim().toUpperCase();
    render();
  });
}

export async function show() {
  status("loading the market…");
  const [rows, gainers, losers, health] = await Promise.all([
    api.get("/crypto/dashboard", { sort: "symbol" }),
    api.get("/crypto/dashboard/top-gainers", { limit: MOVERS }),
    api.get("/crypto/dashboard/top-losers", { limit: MOVERS }),
    api.get("/health").catch(() => null), // only for the collection time: never fatal
  ]);
  state.rows = rows;
  // In a falling market the "top gainers" may all be down: list only real gainers and losers.
  moverList("gainers", gainers.filter((row) => row.change_24h_percent > 0));
  moverList("losers", losers.filter((row) => row.change_24h_percent < 0));
  meta(health && health.last_ingest);
  render();
  status(`${state.rows.length} pairs`);
}

function render() {
  const shown = state.rows.filter((row) => row.symbol.includes(state.filter));
  sortableTable(table, COLUMNS, shown, state.sort, (tr, row) => { tr.dataset.symbol = row.symbol; });
  document.getElementById("market-empty").hidden = state.rows.length > 0;
}

function moverList(id, rows) {
  const items = rows.map((row) => el("li", { "data-symbol": row.symbol }, link(row), change(row)));
  document.getElementById(id).replaceChildren(...(items.length ? items : [el("li", { text: "—" })]));
}

// "When was the data last collected": the end of the latest recorded collection (or
// import) run, from /api/health, and the newest closed candle across pairs (all there is
// when no run was recorded, e.g. after a plain file import).
function meta(lastRun) {
  const newest = Math.max(0, ...state.rows.map((row) => row.last_updated || 0));
  const parts = [`${state.rows.length} pairs`];
  const node = document.getElementById("market-meta");
  if (lastRun && lastRun.finished_at) {
    const outcome = lastRun.status === "ok" ? lastRun.kind : `${lastRun.kind}, ${lastRun.status}`;
    parts.push(`last collected ${fmt.when(lastRun.finished_at)} UTC (${fmt.age(Date.now() - lastRun.finished_at)} ago, ${outcome})`);
    node.dataset.collected = String(lastRun.finished_at);
  } else {
    delete node.dataset.collected;
  }
  if (newest) parts.push(`data up to ${fmt.when(newest)} UTC (${fmt.age(Date.now() - newest)} ago)`);
  node.textContent = parts.join(" · ");
  node.dataset.newest = String(newest);
}
