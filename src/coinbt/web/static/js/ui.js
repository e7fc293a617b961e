// Small DOM helpers shared by the views: element building, sortable tables, the status
// line, and API errors placed next to the field they concern.

/** An element with attributes and children (strings become text, never HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

/** Show a short message in the header; errors stay until the next message. */
export function status(text, isError = false) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.classList.toggle("error", isError);
}

/**
 * A table sorted by clicking its headers. columns: [{key, label, num, render(row) -> node or
 * text, value(row) -> sort key}]; state {key, desc} is kept by the caller across renders.
 */
export function sortableTable(table, columns, rows, state, decorate) {
  const head = el("tr", {}, columns.map((col) => headerCell(table, columns, rows, state, col, decorate)));
  table.tHead.replaceChildren(head);
  const sorted = sortRows(rows, columns.find((c) => c.key === state.key), state.desc);
  const body = sorted.map((row) => {
    const tr = el("tr", {}, columns.map((col) => el("td", { class: col.num ? "num" : "", "data-col": col.key }, col.render(row))));
    if (decorate) decorate(tr, row);
    return tr;
  });
  table.tBodies[0].replaceChildren(...body);
}

function headerCell(table, columns, rows, state, col, decorate) {
  const sort = state.key === col.key ? (state.desc ? "descending" : "ascending") : "none";
  const click = () => {
    // A new column starts with its most interesting end: numbers high first.
    state.desc = state.key === col.key ? !state.desc : Boolean(col.num);
    state.key = col.key;
    sortableTable(table, columns, rows, state, decorate);
  };
  return el("th", { class: col.num ? "num" : "", "data-sort": col.key, "aria-sort": sort, scope: "col", onclick: click }, col.label);
}

function sortRows(rows, column, desc) {
  if (!column) return rows.slice();
  const value = column.value || ((row) => row[column.key]);
  const sign = desc ? -1 : 1;
  return rows.slice().sort((a, b) => sign * compare(value(a), value(b)));
}

// Missing values sort last whichever the direction.
function compare(a, b) {
  const aMissing = a === null || a === undefined;
  const bMissing = b === null || b === undefined;
  if (aMissing || bMissing) return aMissing === bMissing ? 0 : aMissing ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

/** Remove every error shown in a form. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll("[data-error-for]")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

/**
 * Show an API error next to the input its field names ("parameters.fast", "start_date");
 * inputs list the names they answer to in data-field (space-separated). Errors without a
 * known field go to the form's own error line.
 */
export function showError(form, error) {
  const text = error.hint ? `${error.message} — ${error.hint}` : error.message;
  const slot = errorSlot(form, error.field);
  slot.textContent = text;
  const input = error.field ? findInput(form, error.field) : null;
  if (input) input.setAttribute("aria-invalid", "true");
  return slot;
}

function candidates(field) {
  // "options.transaction_fee" and "parameters.transaction_fee" both name the fee input;
  // a bare "fast" names "parameters.fast".
  const bare = field.split(".").pop();
  return [field, bare, `parameters.${bare}`, `options.${bare}`];
}

function findInput(form, field) {
  for (const name of candidates(field)) {
    for (const node of form.querySelectorAll("[data-field]")) {
      if (node.dataset.field.split(" ").includes(name)) return node;
    }
  }
  return null;
}

function errorSlot(form, field) {
  if (field) {
    for (const name of candidates(field)) {
      const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
      if (slot) return slot;
    }
  }
  return form.querySelector('[data-error-for="*"]');
}

/** Purge a plotly chart before reuse (keeps memory flat across many runs). */
export function resetChart(node) {
  if (window.Plotly && node.data) window.Plotly.purge(node);
}
