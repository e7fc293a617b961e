// The page's entry point: loads the shared catalogues once and switches views by the URL
// fragment (#market, #pair/BTCUSDT, #backtest/BTCUSDT, #batch), so views can be linked.

import * as api from "./api.js";
import * as market from "./market.js";
import * as pair from "./pair.js";
import * as backtest from "./backtest.js";
import * as batch from "./batch.js";
import { status } from "./ui.js";

const VIEWS = { market, pair, backtest, batch };

// Each catalogue is asked for once per page load and shared by every view.
function once(load) {
  let promise = null;
  return () => (promise ||= load().catch((err) => { promise = null; throw err; }));
}

const context = {
  pairs: once(() => api.get("/crypto/cryptocurrencies")),
  strategies: once(() => api.get("/crypto/strategies")),
  go: (hash) => { window.location.hash = hash; },
};

function route() {
  const [name, arg] = (window.location.hash.slice(1) || "market").split("/");
  const view = VIEWS[name] ? name : "market";
  for (const section of document.querySelectorAll("section.view")) section.hidden = section.dataset.view !== view;
  for (const link of document.querySelectorAll(".tabs a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.body.dataset.view = view;
  VIEWS[view].show(arg ? decodeURIComponent(arg) : undefined).catch(failed);
}

function failed(err) {
  status(`error: ${err.message}`, true);
  console.error(err);
}

for (const view of Object.values(VIEWS)) view.init(context);
window.addEventListener("hashchange", route);
route();
