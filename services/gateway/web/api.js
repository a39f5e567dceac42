// The API client: JSON in and out, the error envelope as an ApiError, paging by X-Next-Cursor,
// Server-Sent Events over fetch (POST bodies, so not EventSource), and token auth: a 401 opens the
// login box, the token goes to sessionStorage (this tab only) and the request is sent again.

const TOKEN_KEY = "hyperoru.token";
const BASE = "/api/programs";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_" + status;
    this.details = error.details || null;
    this.field = (error.details && error.details.field) || null;
  }
}

export function token() { return sessionStorage.getItem(TOKEN_KEY); }
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
  document.dispatchEvent(new CustomEvent("auth-changed"));
}

let loginWaiter = null;
/** Show the login box (once, however many requests got a 401 at the same time); resolve when a token is entered. */
function askForToken(reason) {
  if (loginWaiter) return loginWaiter;
  const dialog = document.getElementById("login");
  const input = document.getElementById("login-token");
  document.getElementById("login-reason").textContent = reason || "";
  loginWaiter = new Promise((resolve) => {
    const done = () => {
      const value = input.value.trim();
      if (!value) { dialog.showModal(); return; }
      dialog.removeEventListener("close", done);
      input.value = "";
      setToken(value);
      loginWaiter = null;
      resolve(value);
    };
    dialog.addEventListener("close", done);
    dialog.showModal();
    input.focus();
  });
  return loginWaiter;
}

function headers(extra) {
  const h = { Accept: "application/json", ...extra };
  const t = token();
  if (t) h.Authorization = "Bearer " + t;
  return h;
}

async function send(method, path, body, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const init = { method, headers: headers(options.headers), signal: options.signal };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path.startsWith("/") ? path : `${BASE}/${path}`, init);
    if (response.status === 401 && attempt < 5) {
      const data = await response.json().catch(() => null);
      if (token()) setToken(null);
      await askForToken(data && data.error ? data.error.message : "");
      continue;
    }
    return response;
  }
}

async function parse(response) {
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: { message: text.slice(0, 300) } }; }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** One request; resolves to the JSON body (null for 204), rejects with ApiError. */
export async function call(method, path, body, options) {
  return parse(await send(method, path, body, options));
}
export const get = (path, options) => call("GET", path, undefined, options);
export const post = (path, body, options) => call("POST", path, body === undefined ? {} : body, options);
export const put = (path, body, options) => call("PUT", path, body, options);
export const del = (path, options) => call("DELETE", path, undefined, options);

/** A list page: {items, next} where next is the cursor for the following page (or null). */
export async function page(path, params = {}, options) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") query.set(k, v);
  const qs = query.toString();
  const response = await send("GET", path + (qs ? (path.includes("?") ? "&" : "?") + qs : ""), undefined, options);
  const items = await parse(response);
  return { items: items || [], next: response.headers.get("X-Next-Cursor") };
}

/** Every item of a list, following cursors, up to `max` items. */
export async function all(path, params = {}, max = 5000, options) {
  const out = [];
  let cursor = null;
  do {
    const { items, next } = await page(path, { ...params, cursor }, options);
    out.push(...items);
    cursor = next;
  } while (cursor && out.length < max);
  return out;
}

/**
 * POST and read a text/event-stream reply, calling onEvent(name, data) per event (data JSON-decoded
 * when it is JSON). A server that answers plain JSON instead is delivered as one `done` event.
 */
export async function stream(path, body, onEvent, options = {}) {
  const response = await send("POST", path, body, { ...options, headers: { Accept: "text/event-stream, application/json" } });
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok || !type.startsWith("text/event-stream")) {
    const data = await parse(response);
    onEvent("done", data);
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const dispatch = (block) => {
    let name = "message";
    const lines = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") lines.push(value);
    }
    if (!lines.length) return;
    const raw = lines.join("\n");
    let data = raw;
    try { data = JSON.parse(raw); } catch { /* plain text data */ }
    onEvent(name, data);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      dispatch(block);
    }
  }
  if (buffer.trim()) dispatch(buffer);
}
