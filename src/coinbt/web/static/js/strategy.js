// The strategy part of the backtest and batch forms: a strategy picker, one input per
// parameter from the catalogue (checked against its kind and bounds as you type), and the
// execution options. The API checks everything again; this only answers sooner.

import { el } from "./ui.js";

// ExecutionConfig's options and bounds (docs/execution.md); the catalogue route lists
// strategy parameters only.
const OPTIONS = [
  { name: "transaction_fee", label: "Fee per fill (fraction)", kind: "float", default: 0.001, min: 0, max: 0.5, description: "0.001 = 0.1 % of traded value" },
  { name: "initial_investment", label: "Initial investment", kind: "float", default: 10000, min: 1e-9, max: 1e15, description: "quote currency" },
  { name: "slippage", label: "Slippage (fraction)", kind: "float", default: 0, min: 0, max: 0.5, description: "fill price moved against you" },
  { name: "direction", label: "Direction", choices: ["long", "longshort"], default: "long" },
  { name: "fill", label: "Fill", choices: ["next_open", "close"], default: "next_open", description: "next bar's open (no look-ahead) or this close" },
  { name: "stop_loss_pct", label: "Stop loss %", kind: "float", default: 0, min: 0, max: 99.99, description: "0 = off" },
  { name: "take_profit_pct", label: "Take profit %", kind: "float", default: 0, min: 0, max: 1e6, description: "0 = off" },
  { name: "trailing_stop_pct", label: "Trailing stop %", kind: "float", default: 0, min: 0, max: 99.99, description: "0 = off" },
];

/** Attach the strategy picker and option inputs to a form; returns {values, valid}. */
export function strategyForm(form, strategies) {
  const select = form.elements.strategy;
  select.replaceChildren(...strategies.map((s) => el("option", { value: s.id }, s.name)));
  const preferred = strategies.find((s) => s.name === "sma_cross") || strategies[0];
  select.value = String(preferred.id);
  const paramsBox = form.querySelector("fieldset.params");
  const pick = () => showParams(form, paramsBox, strategies.find((s) => String(s.id) === select.value));
  select.addEventListener("change", pick);
  pick();
  optionFields(form.querySelector("fieldset.options"));
  return {
    valid: () => checkAll(form),
    values: () => collect(form, strategies.find((s) => String(s.id) === select.value)),
  };
}

function showParams(form, box, strategy) {
  form.querySelector(".strategy-description").textContent = strategy ? strategy.description : "";
  const legend = el("legend", {}, "Parameters");
  const fields = (strategy ? strategy.parameters : []).map((p) => numberField(p, `parameters.${p.name}`, p.name));
  box.replaceChildren(legend, ...(fields.length ? fields : [el("p", { class: "meta" }, "no parameters")]));
}

function optionFields(box) {
  const fields = OPTIONS.map((o) => (o.choices ? choiceField(o) : numberField(o, `options.${o.name} parameters.${o.name}`, o.label)));
  box.replaceChildren(el("legend", {}, "Execution"), ...fields);
}

// Text inputs (not type=number): the browser would hide what was typed when it is not a
// number, and we want to say what is wrong with it.
function numberField(spec, fields, label) {
  const first = fields.split(" ")[0];
  const input = el("input", { name: first, type: "text", inputmode: "decimal", autocomplete: "off",
    placeholder: String(spec.default), "data-field": fields, "data-kind": spec.kind, "data-min": spec.min, "data-max": spec.max });
  input.value = String(spec.default);
  const error = el("span", { class: "field-error", "data-error-for": first });
  input.addEventListener("input", () => check(input, error));
  const hint = `${spec.kind === "int" ? "whole number" : "number"} ${bound(spec.min)} – ${bound(spec.max)}` + (spec.description ? `; ${spec.description}` : "");
  return el("label", {}, label, input, el("span", { class: "hint" }, hint), error);
}

// 1e15 reads better than 1000000000000000.
const bound = (value) => (value !== 0 && (Math.abs(value) >= 1e6 || Math.abs(value) < 1e-3) ? value.toExponential() : String(value));

function choiceField(spec) {
  const name = `options.${spec.name}`;
  const select = el("select", { name, "data-field": `${name} parameters.${spec.name}` }, spec.choices.map((c) => el("option", { value: c }, c)));
  select.value = spec.default;
  return el("label", {}, spec.label, select, spec.description ? el("span", { class: "hint" }, spec.description) : null,
    el("span", { class: "field-error", "data-error-for": name }));
}

/** The problem with an input's text, or "" when it is fine (empty means the default). */
export function problem(input) {
  const text = input.value.trim();
  if (text === "") return "";
  const value = Number(text);
  const { kind, min, max } = input.dataset;
  if (!Number.isFinite(value)) return `${text} is not a number`;
  if (kind === "int" && !Number.isInteger(value)) return `must be a whole number, not ${text}`;
  if (value < Number(min) || value > Number(max)) return `must be between ${min} and ${max}`;
  return "";
}

function check(input, error) {
  const text = problem(input);
  error.textContent = text;
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return !text;
}

function checkAll(form) {
  let ok = true;
  for (const input of form.querySelectorAll("input[data-kind]")) {
    ok = check(input, form.querySelector(`[data-error-for="${CSS.escape(input.name)}"]`)) && ok;
  }
  return ok;
}

function collect(form, strategy) {
  const parameters = {};
  const options = {};
  for (const input of form.querySelectorAll("input[data-kind], fieldset.options select")) {
    const [group, name] = input.name.split(".");
    const text = input.value.trim();
    if (text === "") continue; // the default applies
    const target = group === "parameters" ? parameters : options;
    target[name] = input.tagName === "SELECT" ? text : Number(text);
  }
  return { strategy_id: strategy.id, parameters, options };
}
