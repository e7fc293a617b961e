// Numbers and times for people. The rules match the command line's (coinbt.cli.render):
// percentages and ratios with two decimals, counts as integers, times in UTC.

const two = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const four = new Intl.NumberFormat("en-US", { minimumFractionDigits: 4, maximumFractionDigits: 4 });
const small = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 8 }); // 0.00002373, never 2.373e-5

const COUNT_METRICS = new Set(["num_trades", "max_drawdown_bars"]);

export const METRIC_LABELS = {
  total_return_pct: "Total return",
  buy_hold_return_pct: "Buy & hold return",
  cagr_pct: "CAGR",
  volatility_pct: "Volatility (annual)",
  sharpe_ratio: "Sharpe ratio",
  sortino_ratio: "Sortino ratio",
  calmar_ratio: "Calmar ratio",
  max_drawdown_pct: "Max drawdown",
  max_drawdown_bars: "Max drawdown length (bars)",
  win_rate_pct: "Win rate",
  profit_factor: "Profit factor",
  expectancy_pct: "Expectancy per trade",
  num_trades: "Trades",
  exposure_pct: "Exposure",
  avg_trade_pct: "Average trade (geometric)",
  best_trade_pct: "Best trade",
  worst_trade_pct: "Worst trade",
  avg_trade_bars: "Average bars held",
  fees_paid: "Fees paid",
  final_equity: "Final equity",
};

const missing = (value) => value === null || value === undefined || Number.isNaN(value);

/** A metric as the CLI prints it: "12.34 %", "1,234", "1.23". */
export function metric(name, value) {
  if (missing(value)) return "—";
  if (name.endsWith("_pct")) return `${two.format(value)} %`;
  if (COUNT_METRICS.has(name)) return whole.format(value);
  return two.format(value);
}

/** A percentage with two decimals and a sign: "+3.21 %". */
export function pct(value) {
  if (missing(value)) return "—";
  return `${value > 0 ? "+" : ""}${two.format(value)} %`;
}

/** A price readable at any magnitude: BTC in dollars, meme coins in millionths. */
export function price(value) {
  if (missing(value)) return "—";
  const size = Math.abs(value);
  if (size >= 1000) return two.format(value);
  if (size >= 1) return four.format(value);
  return small.format(value);
}

/** A large amount (volume) shortened: 1.23 M, 4.56 B. */
export function amount(value) {
  if (missing(value)) return "—";
  const units = [[1e12, " T"], [1e9, " B"], [1e6, " M"], [1e3, " k"]];
  for (const [size, unit] of units) {
    if (Math.abs(value) >= size) return two.format(value / size) + unit;
  }
  return two.format(value);
}

/** An integer with grouping. */
export function count(value) {
  return missing(value) ? "—" : whole.format(value);
}

/** Open time (ms) as "2024-01-01 00:00" UTC; "2024-01-01" with dateOnly. */
export function when(ms, dateOnly = false) {
  if (missing(ms) || ms === "") return "—";
  // Times come as ms; an ISO string (a server's refresh time) is read as such.
  const date = /^-?\d+$/.test(String(ms)) ? new Date(Number(ms)) : new Date(ms);
  if (Number.isNaN(date.getTime())) return String(ms);
  const text = date.toISOString().replace("T", " ").slice(0, 16);
  return dateOnly ? text.slice(0, 10) : text;
}

/** A duration (ms) in its largest whole unit: "3 h", "12 days". */
export function age(ms) {
  const units = [[86_400_000, " days"], [3_600_000, " h"], [60_000, " min"]];
  for (const [size, unit] of units) {
    if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  }
  return "moments";
}

/** A Date for plotly axes, from ms (plotly reads ISO strings as given, so we keep UTC). */
export function axisTime(ms) {
  return new Date(Number(ms)).toISOString().replace("Z", "");
}

/** The class marking a signed number up or down. */
export function signClass(value) {
  if (missing(value) || value === 0) return "";
  return value > 0 ? "up" : "down";
}
