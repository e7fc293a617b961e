// Pair view: one pair's candles with volume at 1h, 1d or 1w, its summary figures, and the
// gaps in its data: as the store records them (GET /api/crypto/{pair}/gaps, with the known
// outages of the exchange and their reason) for the intervals the pair is stored at, else
// (daily and weekly rollups, or an older server) as found between the candles shown.

import * as api from "./api.js";
import * as charts from "./charts.js";
import * as fmt from "./format.js";
import { el, status } from "./ui.js";

const INTERVAL_MS = { "1h": 3_600_000, "1d": 86_400_000, "1w": 604_800_000 };
// Hourly candles of a long history are many: start with the latest ones (zoom out by
// choosing 1d or 1w). Daily and weekly series are shown whole.
const HOURLY_WINDOW_MS = 180 * 86_400_000;
const MAX_GAPS_LISTED = 50;

let ctx;
const state = { symbol: null, interval: "1d" };

export function init(context) {
  ctx = context;
  document.getElementById("pair-select").addEventListener("change", (event) => ctx.go(`pair/${event.target.value}`));
  for (const button of document.querySelectorAll("#pair-interval button")) {
    button.addEventListener("click", () => {
      state.interval = button.dataset.interval;
      load().catch((err) => status(`error: ${err.message}`, true));
    });
  }
}

export async function show(symbol) {
  const pairs = await ctx.pairs();
  if (!pairs.length) {
    status("no pairs stored yet");
    return;
  }
  state.symbol = pairs.some((p) => p.symbol === symbol) ? symbol : state.symbol || pairs[0].symbol;
  fillSelect(pairs);
  await load();
}

function fillSelect(pairs) {
  const select = document.getElementById("pair-select");
  if (select.options.length !== pairs.length) {
    select.replaceChildren(...pairs.map((p) => el("option", { value: p.symbol }, p.symbol)));
  }
  select.value = state.symbol;
  document.getElementById("pair-backtest").href = `#backtest/${encodeURIComponent(state.symbol)}`;
}

async function load() {
  const { symbol, interval } = state;
  markInterval(interval);
  status(`loading ${symbol} ${interval}…`);
  const pair = (await ctx.pairs()).find((p) => p.symbol === symbol);
  const start = interval === "1h" && pair && pair.last_candle ? pair.last_candle - HOURLY_WINDOW_MS : undefined;
  const [body, rows, recorded] = await Promise.all([
    api.get(`/crypto/${encodeURIComponent(symbol)}/candles`, { interval, start }),
    api.get("/crypto/dashboard", { sort: "symbol" }),
    storedGaps(pair, symbol, interval),
  ]);
  if (state.symbol !== symbol || state.interval !== interval) return; // a newer choice won
  const cols = api.candleColumns(body);
  const gaps = recorded || findGaps(cols.time, INTERVAL_MS[interval]);
  await drawChart(cols, symbol, interval, shown(gaps, cols.time));
  summary(rows.find((row) => row.symbol === symbol), pair);
  listGaps(gaps, Boolean(recorded), interval);
  status(`${symbol}: ${fmt.count(cols.time.length)} ${interval} candles`);
}

// The store's gaps of a series the pair has of its own; null (find them between the
// candles instead) for a rollup, or when the route cannot answer.
async function storedGaps(pair, symbol, interval) {
  const stored = pair && pair.series.some((s) => s.interval === interval && !s.rollup);
  if (!stored) return null;
  try {
    const body = await api.get(`/crypto/${encodeURIComponent(symbol)}/gaps`, { interval });
    return Array.isArray(body && body.gaps) ? body.gaps : null;
  } catch {
    return null;
  }
}

// The gaps within the candles on the chart (the list also names older ones).
function shown(gaps, times) {
  if (!times.length) return [];
  const first = times[0];
  const last = times[times.length - 1];
  return gaps.filter((g) => g.end >= first && g.start <= last);
}

function markInterval(interval) {
  for (const button of document.querySelectorAll("#pair-interval button")) {
    button.setAttribute("aria-checked", String(button.dataset.interval === interval));
  }
}

async function drawChart(cols, symbol, interval, gaps) {
  const node = document.getElementById("pair-chart");
  const range = cols.time.length ? `${fmt.when(cols.time[0])} .. ${fmt.when(cols.time[cols.time.length - 1])} UTC` : "no candles";
  document.getElementById("pair-meta").textContent = `${fmt.count(cols.time.length)} candles, ${range}`;
  await charts.candles(node, cols, `${symbol} · ${interval}`, gaps, INTERVAL_MS[interval]);
  node.dataset.candles = String(cols.time.length); // set once drawn: tests wait on it
}

/** Missing bars between consecutive candles: [{start, end, missing}] (open times). */
export function findGaps(times, step) {
  const gaps = [];
  for (let i = 1; i < times.length; i++) {
    const missing = Math.round((times[i] - times[i - 1]) / step) - 1;
    if (missing > 0) gaps.push({ start: times[i - 1] + step, end: times[i] - step, missing });
  }
  return gaps;
}

function summary(row, pair) {
  const figures = row ? [
    ["Price", fmt.price(row.current_price)],
    ["24h change", fmt.pct(row.change_24h_percent)],
    ["7d high / low", `${fmt.price(row.high_7d)} / ${fmt.price(row.low_7d)}`],
    ["7d volume", fmt.amount(row.volume_7d)],
    ["30d high / low", `${fmt.price(row.high_30d)} / ${fmt.price(row.low_30d)}`],
    ["30d volume", fmt.amount(row.volume_30d)],
    ["All-time high", fmt.price(row.all_time_high)],
    ["All-time low", fmt.price(row.all_time_low)],
    ["Days of data", fmt.count(row.total_days)],
    ["Last candle", `${fmt.when(row.last_updated)} UTC`],
  ] : [["Summary", "not computed yet"]];
  if (pair) figures.push(["Stored series", pair.series.filter((s) => !s.rollup).map((s) => `${s.interval} (${fmt.count(s.candles)})`).join(", ")]);
  const items = figures.map(([label, value]) => el("div", {}, el("dt", {}, label), el("dd", {}, value)));
  document.getElementById("pair-summary").replaceChildren(...items);
}

function listGaps(gaps, fromStore, interval) {
  const total = gaps.reduce((sum, g) => sum + (g.missing ?? 0), 0);
  const known = gaps.filter((g) => g.known).length;
  const source = fromStore ? "in the stored history" : "between the candles shown";
  const outages = known ? `; ${known} known exchange outage(s)` : "";
  const meta = document.getElementById("pair-gaps-meta");
  meta.textContent = gaps.length
    ? `${gaps.length} gap(s), ${fmt.count(total)} missing ${interval} candle(s) ${source}${outages}`
    : `no gaps ${source}`;
  meta.dataset.source = fromStore ? "store" : "candles";
  const items = gaps.slice(-MAX_GAPS_LISTED).reverse().map((g) => el("li", { class: g.known ? "known" : null },
    `${fmt.when(g.start)} .. ${fmt.when(g.end)} UTC: ${fmt.count(g.missing)} candle(s)`,
    g.known ? el("span", { class: "reason" }, ` (known: ${g.reason || "exchange outage"})`) : null));
  document.getElementById("pair-gaps").replaceChildren(...items);
}
