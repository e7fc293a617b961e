// The REST API as the page uses it: JSON requests, the one error shape, and server-sent
// events read from a POST response (EventSource can only GET).

const BASE = "/api";

/** An error answered by the API: {code, message, field, hint} plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed (HTTP ${status})`);
    this.status = status;
    this.code = error.code || "error";
    this.field = normaliseField(error.field);
    this.hint = error.hint || "";
  }
}

// Validation errors may name their field with a location prefix ("body.parameters.fast");
// the page's inputs are named by the part after it.
function normaliseField(field) {
  if (field === undefined || field === null || field === "") return null;
  const text = Array.isArray(field) ? field.join(".") : String(field);
  return text.replace(/^(body|query|path)\./, "");
}

function url(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return `${BASE}${path}${text ? "?" + text : ""}`;
}

async function parse(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: { message: text.slice(0, 200) || response.statusText } };
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** GET a JSON resource under /api. */
export async function get(path, params) {
  return parse(await fetch(url(path, params), { headers: { Accept: "application/json" } }));
}

/** POST a JSON body under /api. */
export async function post(path, body) {
  const response = await fetch(url(path), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return parse(response);
}

/**
 * POST a JSON body and read the answer as server-sent events, calling onEvent({id, event,
 * data}) for each as it arrives; a JSON (non-stream) error answer raises ApiError. When
 * the connection drops before `until(event)` is true, the stream is resumed once from the
 * last event id (Last-Event-ID) at the Location the server gave.
 */
export async function postStream(path, body, onEvent, until) {
  const response = await fetch(url(path), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok || !type.includes("text/event-stream")) return parse(response);
  let lastId = null;
  let finished = false;
  const seen = (event) => {
    lastId = event.id ?? lastId;
    finished ||= Boolean(until && until(event));
    onEvent(event);
  };
  await readEvents(response, seen).catch(() => null);
  const resume = response.headers.get("Location");
  if (!finished && resume && lastId !== null) {
    const again = await fetch(resume, { headers: { Accept: "text/event-stream", "Last-Event-ID": lastId } });
    if (again.ok) await readEvents(again, seen);
  }
  return null;
}

async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (event) onEvent(event);
    }
  }
  const last = parseEvent(buffer);
  if (last) onEvent(last);
}

// One SSE block: "id:", "event:" and "data:" lines (data lines joined by newlines);
// comment lines (":" keep-alives) are ignored.
export function parseEvent(block) {
  let id = null;
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "id") id = value;
    else if (name === "event") event = value;
    else if (name === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: pass the text through
  }
  return { id, event, data: parsed };
}

/** Candles ({candles: [{time, open, high, low, close, volume}]}) as columns for plotly. */
export function candleColumns(body) {
  const columns = { time: [], open: [], high: [], low: [], close: [], volume: [] };
  for (const row of (body && body.candles) || []) {
    for (const name of Object.keys(columns)) columns[name].push(row[name]);
  }
  return columns;
}
