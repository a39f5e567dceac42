// Backtests: the form (every setting of the API), the history (filters; pick two to compare), one
// backtest (live progress by polling the job while queued/running; then the metrics, candles with the
// entries and exits, equity with drawdown, the sortable trades and the trigger detail), and a side-by-
// side comparison of two.

import * as api from "./api.js";
import { candleChart, compareChart, equityChart } from "./charts.js";
import {
  TIMEFRAMES, clear, errorBox, field, h, jsonBlock, money, num, parseJsonObject, pct, poll, ratio, select, signClass, statusBadge, table, toast, when,
} from "./dom.js";
import { symbols } from "./programs.js";

const ACTIVE = new Set(["queued", "running"]);
const MAX_CHART_CANDLES = 20000;

const METRICS = [
  ["return_pct", "Return", pct], ["total_pnl", "Total P&L", money], ["final_equity", "Final equity", money],
  ["max_drawdown", "Max drawdown", pct], ["total_trades", "Trades", (v) => num(v, 0)], ["win_rate", "Win rate", ratio],
  ["profit_factor", "Profit factor", (v) => num(v, 2)], ["sharpe", "Sharpe", (v) => num(v, 2)], ["sortino", "Sortino", (v) => num(v, 2)],
  ["calmar", "Calmar", (v) => num(v, 2)], ["fees_paid", "Fees paid", money], ["funding_paid", "Funding paid", money],
  ["exposure_pct", "Exposure", pct], ["avg_trade_pct", "Avg trade", pct], ["best_trade_pct", "Best trade", pct],
  ["worst_trade_pct", "Worst trade", pct], ["buy_hold_return_pct", "Buy & hold", pct], ["max_drawdown_duration", "Max DD duration (days)", (v) => num(v, 1)],
];
// for the comparison: which way is better
const HIGHER_BETTER = new Set(["return_pct", "total_pnl", "final_equity", "max_drawdown", "win_rate", "profit_factor", "sharpe", "sortino", "calmar", "avg_trade_pct", "best_trade_pct", "worst_trade_pct"]);
const LOWER_BETTER = new Set(["fees_paid", "max_drawdown_duration"]);

export async function render(main, params) {
  if (params.compare) return renderCompare(main, params.compare);
  if (params.id) return renderOne(main, params.id);
  return renderIndex(main, params.query || new URLSearchParams());
}

async function programOptions() {
  try {
    return await api.all("/api/programs/", { limit: 500 }, 2000);
  } catch { return []; }
}

async function renderIndex(main, query) {
  const programs = await programOptions();
  const preset = query.get("program");
  const form = backtestForm(programs, preset);
  const history = historyPanel(programs);
  clear(main, h("h1", {}, "Backtests"), h("div", { class: "panel" }, h("h2", {}, "New backtest"), form), history.el);
}

function backtestForm(programs, preset) {
  const program = select([["", "— choose a program —"], ...programs.map((p) => [p.id, `${p.name} (#${p.id}, v${p.version})`])], preset || "",
    { "data-testid": "bt-program" });
  const version = h("input", { type: "number", min: "1", step: "1", placeholder: "latest" });
  const binding = h("input", { type: "number", min: "1", step: "1", placeholder: "none" });
  const symbol = select(["BTC"], "BTC", { "data-testid": "bt-symbol" });
  symbols().then((list) => clear(symbol, list.map((s) => h("option", { value: s, selected: s === "BTC" }, s))));
  const timeframe = select(TIMEFRAMES, "1h", { "data-testid": "bt-timeframe" });
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 86400e3);
  const start = h("input", { type: "date", value: monthAgo.toISOString().slice(0, 10), "data-testid": "bt-start" });
  const end = h("input", { type: "date", value: today.toISOString().slice(0, 10), "data-testid": "bt-end" });
  const capital = h("input", { type: "number", min: "1", step: "any", value: "10000" });
  const fee = h("input", { type: "number", min: "0", max: "0.1", step: "any", value: "0.0005" });
  const slippage = h("input", { type: "number", min: "0", max: "1000", step: "any", value: "0" });
  const leverage = h("input", { type: "number", min: "1", max: "100", step: "any", value: "1" });
  const params = h("textarea", { rows: 2, class: "mono", placeholder: '{"fast": 10, "slow": 30}' });
  const out = h("div");
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "bt-submit" }, "Run backtest");
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    clear(out);
    let body;
    try {
      body = {
        symbol: symbol.value, timeframe: timeframe.value, start_date: start.value || null, end_date: end.value || null,
        initial_capital: Number(capital.value), fee_rate: Number(fee.value), slippage_bps: Number(slippage.value),
        leverage: Number(leverage.value), params: parseJsonObject(params.value, "params"),
      };
      if (version.value) body.version = Number(version.value);
    } catch (err) { clear(out, errorBox(err)); return; }
    let path;
    if (binding.value) { path = "backtest"; body.binding_id = Number(binding.value); }
    else if (program.value) path = `${program.value}/backtest`;
    else { clear(out, errorBox(new Error("Choose a program (or a binding to replay)."))); return; }
    submit.disabled = true;
    try {
      const accepted = await api.post(path, body);
      location.hash = `#/backtests/${accepted.backtest_id}`;
    } catch (err) { clear(out, errorBox(err)); } finally { submit.disabled = false; }
  } },
  h("div", { class: "fields" },
    field("Program", program), field("Version", version, { hint: "empty: the latest" }),
    field("Or replay binding #", binding, { hint: "runs on its pools' fires / schedule" }),
    field("Symbol", symbol), field("Timeframe", timeframe), field("Start (UTC)", start), field("End (UTC)", end),
    field("Initial capital (USD)", capital), field("Fee rate", fee, { hint: "0.0005 = 0.05 % per fill" }),
    field("Slippage (bps)", slippage), field("Leverage", leverage), field("Params (JSON)", params)),
  h("div", { class: "row end", style: "margin-top:.6rem" }, submit), out);
  return form;
}

function historyPanel(programs) {
  const names = new Map(programs.map((p) => [p.id, p.name]));
  const programFilter = select([["", "all programs"], ...programs.map((p) => [p.id, p.name])], "");
  const statusFilter = select([["", "any status"], "queued", "running", "completed", "failed", "cancelled"], "");
  const picked = [];
  const compare = h("a", { class: "button", "aria-disabled": "true", "data-testid": "compare" }, "Compare the two ticked");
  const body = h("div");
  const updateCompare = () => {
    const ready = picked.length === 2;
    compare.setAttribute("aria-disabled", String(!ready));
    if (ready) compare.href = `#/compare/${picked[0]}/${picked[1]}`; else compare.removeAttribute("href");
  };
  const columns = [
    { key: "pick", label: "Compare", nosort: true, render: (b) => h("input", { type: "checkbox", "aria-label": `Compare ${b.id}`, checked: picked.includes(b.id),
      onclick: (e) => e.stopPropagation(),
      onchange: (e) => {
        if (e.target.checked) { picked.push(b.id); if (picked.length > 2) picked.shift(); } else picked.splice(picked.indexOf(b.id), 1);
        updateCompare(); view.update(rows);
      } }) },
    { key: "id", label: "Backtest", render: (b) => h("a", { href: `#/backtests/${b.id}` }, b.id) },
    { key: "program_id", label: "Program", render: (b) => (b.program_id ? names.get(b.program_id) || `#${b.program_id}` : "unsaved code") },
    { key: "symbol", label: "Symbol" }, { key: "timeframe", label: "TF" },
    { key: "status", label: "Status", render: (b) => statusBadge(b.status) },
    { key: "progress", label: "Progress", num: true, render: (b) => ratio(b.progress) },
    { key: "created_at", label: "Created", render: (b) => when(b.created_at) },
  ];
  let rows = [];
  const view = table(columns, rows, { caption: "Backtest history", empty: "No backtests yet.", onRow: (b) => { location.hash = `#/backtests/${b.id}`; } });
  const load = async () => {
    try {
      const { items } = await api.page("backtest/history", { limit: 100, program_id: programFilter.value, status: statusFilter.value });
      rows = items;
      view.update(rows);
    } catch (err) { clear(body, errorBox(err)); }
  };
  programFilter.addEventListener("change", load);
  statusFilter.addEventListener("change", load);
  clear(body, view);
  const el = h("div", { class: "panel" }, h("h2", {}, "History"),
    h("div", { class: "row" }, field("Program", programFilter), field("Status", statusFilter), h("span", { class: "grow" }), compare), body);
  load();
  poll(el, 3000, async () => { if (rows.some((r) => ACTIVE.has(r.status))) await load(); });
  updateCompare();
  return { el };
}

async function renderOne(main, id) {
  const head = h("div");
  const progress = h("div");
  const result = h("div");
  clear(main, h("div", { class: "row center" }, h("a", { href: "#/backtests" }, "← Backtests")), h("h1", {}, "Backtest ", h("code", {}, id)), head, progress, result);
  let record;
  try { record = await api.get(`backtest/${id}`); } catch (err) { clear(head, errorBox(err)); return; }
  showHead(head, record);
  if (ACTIVE.has(record.status)) {
    const bar = h("progress", { max: "1", value: String(record.progress || 0), "aria-label": "Backtest progress", "data-testid": "bt-progress" });
    const label = h("span", { "aria-live": "polite" });
    const cancel = h("button", { type: "button", class: "danger", onclick: async () => {
      try { await api.post(`backtest/${id}/cancel`); toast("Cancel requested"); } catch (err) { toast(err.message, "bad"); }
    } }, "Cancel");
    const update = (r) => {
      bar.value = r.progress || 0;
      label.textContent = `${r.status}: ${r.bars_done || 0} of ${r.bars_total || "?"} bars (${ratio(r.progress)})`;
    };
    update(record);
    clear(progress, h("div", { class: "panel" }, h("div", { class: "row center" }, h("div", { class: "grow" }, bar), cancel), label));
    await new Promise((resolve) => {
      const stop = poll(progress, 400, async () => {
        record = await api.get(`backtest/${id}`);
        update(record);
        if (!ACTIVE.has(record.status)) { stop(); resolve(); }
      });
    });
    if (!progress.isConnected) return;
    clear(progress);
    showHead(head, record);
  }
  if (record.status === "failed" && record.error) {
    const e = record.error;
    clear(result, h("div", { class: "error-box", role: "alert" }, `${e.kind}: ${e.message}`,
      e.line ? ` (line ${e.line}, column ${e.column})` : "", e.bar_time ? ` at the bar of ${when(e.bar_time)}` : "",
      record.program_id && e.line ? [" ", h("a", { href: `#/programs/${record.program_id}` }, "open the program")] : null));
    return;
  }
  if (record.status !== "completed") { clear(result, h("p", { class: "muted" }, `This backtest is ${record.status}.`)); return; }
  await showResult(result, record);
}

function showHead(el, r) {
  clear(el, h("div", { class: "panel" }, h("div", { class: "row center" }, statusBadge(r.status),
    h("span", {}, `${r.symbol} ${r.timeframe}`), h("span", { class: "muted" }, `${when(r.start_date)} → ${when(r.end_date)}`),
    r.program_id ? h("a", { href: `#/programs/${r.program_id}` }, `program #${r.program_id}${r.version ? " v" + r.version : ""}`) : h("span", { class: "muted" }, "unsaved code"),
    r.binding_id ? h("span", {}, `replaying binding #${r.binding_id}`) : null,
    r.source ? h("span", { class: "badge", "data-testid": "bt-source" }, `data: ${r.source}`) : null),
    h("p", { class: "muted" }, `capital ${money(r.initial_capital)} · fee ${num(r.fee_rate * 100, 4)} % · slippage ${num(r.slippage_bps, 2)} bps · leverage ${num(r.leverage, 2)}×`,
      r.params && Object.keys(r.params).length ? ` · params ${JSON.stringify(r.params)}` : "")));
}

export function metricsGrid(r) {
  return h("div", { class: "metrics", "data-testid": "metrics" }, METRICS.map(([key, label, fmt]) =>
    h("div", { class: "metric" }, h("div", { class: "k" }, label), h("div", { class: "v " + (["return_pct", "total_pnl"].includes(key) ? signClass(r[key]) : "") }, fmt(r[key])))));
}

async function loadCandles(r) {
  const out = [];
  let start = r.start_date;
  let source = null, note = null;
  while (out.length < MAX_CHART_CANDLES) {
    const query = new URLSearchParams({ symbol: r.symbol, timeframe: r.timeframe, limit: "5000" });
    if (start) query.set("start", start);
    if (r.end_date) query.set("end", r.end_date);
    const body = await api.get(`market-data/candles?${query}`);
    source = body.source; note = body.note;
    const candles = body.candles || [];
    out.push(...candles);
    if (candles.length < 5000) break;
    start = new Date(Date.parse(candles[candles.length - 1].time) + 1000).toISOString();
  }
  return { candles: out, source, note };
}

async function showResult(el, r) {
  const chartBox = h("div", { class: "chart", id: "candles", "data-testid": "candle-chart", role: "img", "aria-label": `${r.symbol} candles with entries and exits` });
  const equityBox = h("div", { class: "chart small", id: "equity", "data-testid": "equity-chart", role: "img", "aria-label": "Equity curve and drawdown" });
  const legend = h("div", { class: "chart-legend" });
  const detail = h("div", { class: "panel", "aria-live": "polite", "data-testid": "trigger-detail" }, h("h2", {}, "Trigger detail"),
    h("p", { class: "muted" }, "Click an arrow on the chart, or a trade, to see what the program read on that bar."));
  const tradesBox = h("div");
  clear(el,
    h("div", { class: "panel" }, h("h2", {}, "Results"), metricsGrid(r)),
    h("div", { class: "panel" }, h("h2", {}, "Price, entries and exits"), legend, chartBox),
    detail,
    h("div", { class: "panel" }, h("h2", {}, "Equity and drawdown"), equityBox),
    h("div", { class: "panel" }, h("h2", {}, `Trades (${r.total_trades ?? 0})`), tradesBox));
  let candles, markers, trades, triggers;
  try {
    [candles, markers, trades, triggers] = await Promise.all([
      loadCandles(r), api.all(`backtest/${r.id}/markers`, { limit: 500 }, 20000), api.all(`backtest/${r.id}/trades`, { limit: 500 }, 20000),
      api.all(`backtest/${r.id}/triggers`, { limit: 500 }, 20000),
    ]);
  } catch (err) { el.prepend(errorBox(err)); return; }
  const byTime = new Map();
  for (const t of triggers) if (!byTime.has(t.timestamp)) byTime.set(t.timestamp, t);
  const triggerFor = (iso) => byTime.get(iso) || triggers.reduce((best, t) => (t.timestamp <= iso && (!best || t.timestamp > best.timestamp) ? t : best), null);
  const showTrigger = async (iso) => {
    const t = triggerFor(iso);
    if (!t) { clear(detail, h("h2", {}, "Trigger detail"), h("p", { class: "muted" }, `No trigger at ${when(iso)}.`)); return; }
    clear(detail, h("h2", {}, "Trigger detail"), h("p", { class: "muted" }, "Loading…"));
    try { clear(detail, h("h2", {}, "Trigger detail"), triggerDetail(await api.get(`backtest/trigger/${t.id}`))); } catch (err) { detail.append(errorBox(err)); }
    chart.focusTime(iso);
  };
  const chart = candleChart(chartBox, candles.candles, markers, (m) => showTrigger(m.timestamp));
  chartBox.dataset.markers = String(chart.markerCount);
  chartBox.dataset.candles = String(candles.candles.length);
  chartBox.xOf = chart.xOf; // where a time is on the chart (lets a test click a marker's bar)
  clear(legend,
    h("span", {}, h("span", { class: "swatch", style: "background:var(--marker-entry)" }), `entries (${markers.filter((m) => m.type === "entry").length})`),
    h("span", {}, h("span", { class: "swatch", style: "background:var(--marker-exit)" }), `exits (${markers.filter((m) => m.type === "exit").length})`),
    h("span", {}, `${candles.candles.length} candles, data: ${candles.source || r.source || "?"}`),
    candles.note ? h("span", { class: "warn" }, candles.note) : null);
  let points = r.equity || [];
  if (r.equity_points > points.length && r.equity_points <= 20000) {
    try { points = await api.all(`backtest/${r.id}/equity`, { limit: 5000 }, 20000); } catch { /* the downsampled curve will do */ }
  }
  equityChart(equityBox, points);
  let selected = null;
  clear(tradesBox, table([
    { key: "entry_time", label: "Entry", render: (t) => when(t.entry_time) }, { key: "exit_time", label: "Exit", render: (t) => when(t.exit_time) },
    { key: "side", label: "Side" }, { key: "size", label: "Size", num: true, render: (t) => num(t.size, 6) },
    { key: "entry_price", label: "Entry price", num: true, render: (t) => money(t.entry_price) },
    { key: "exit_price", label: "Exit price", num: true, render: (t) => money(t.exit_price) },
    { key: "pnl", label: "P&L", num: true, render: (t) => h("span", { class: signClass(t.pnl) }, money(t.pnl)) },
    { key: "return_pct", label: "Return", num: true, render: (t) => h("span", { class: signClass(t.return_pct) }, pct(t.return_pct)) },
    { key: "fees", label: "Fees", num: true, render: (t) => money(t.fees) }, { key: "exit_reason", label: "Exit reason" },
  ], trades, { caption: "Trades", empty: "No trades.", onRow: (t, tr) => {
    if (selected) selected.classList.remove("selected");
    selected = tr; tr.classList.add("selected");
    showTrigger(t.entry_time);
  } }));
}

export function triggerDetail(t) {
  const c = t.context || {};
  const position = c.position ? `${c.position.side} ${num(c.position.size, 6)} @ ${money(c.position.entry_price)}` : "none";
  return h("div", {},
    h("dl", { class: "kv" },
      h("dt", {}, "Bar"), h("dd", {}, when(c.time || t.timestamp)), h("dt", {}, "Decision"), h("dd", {}, `${t.type} ${t.symbol}`),
      h("dt", {}, "Price"), h("dd", {}, money(c.price ?? t.price)), h("dt", {}, "Position before"), h("dd", {}, position),
      h("dt", {}, "Balance / equity"), h("dd", {}, `${money(c.balance)} / ${money(c.equity)}`)),
    h("h3", {}, "Values the program read"),
    table([
      { key: "name", label: "Call", render: (i) => h("code", {}, `${i.name}(${(i.args || []).join(", ")})`) },
      { key: "result", label: "Result", render: (i) => (typeof i.result === "number" ? num(i.result, 6) : JSON.stringify(i.result)) },
    ], c.indicators || [], { caption: "Indicator calls", empty: "It read no indicator." }),
    c.logs && c.logs.length ? [h("h3", {}, "Log"), h("pre", { class: "code-block" }, c.logs.join("\n"))] : null,
    h("h3", {}, "Orders and fills"),
    table([
      { key: "action", label: "Order" }, { key: "symbol", label: "Symbol" }, { key: "quantity", label: "Qty", num: true, render: (o) => num(o.quantity, 6) },
      { key: "reason", label: "Reason" },
      { key: "fill", label: "Fill", render: (o) => (o.fill ? `${o.fill.side} ${num(o.fill.quantity, 6)} @ ${money(o.fill.price)} (fee ${money(o.fill.fee)})` : o.rejection ? `rejected: ${o.rejection.reason || JSON.stringify(o.rejection)}` : "—") },
    ], c.orders || [], { caption: "Orders", empty: "No orders." }));
}

async function renderCompare(main, ids) {
  clear(main, h("div", { class: "row center" }, h("a", { href: "#/backtests" }, "← Backtests")), h("h1", {}, "Compare backtests"), h("p", { class: "muted" }, "Loading…"));
  let records;
  try { records = await Promise.all(ids.map((id) => api.get(`backtest/${id}`))); } catch (err) { main.append(errorBox(err)); return; }
  const settings = [["program_id", "Program"], ["version", "Version"], ["symbol", "Symbol"], ["timeframe", "Timeframe"], ["start_date", "Start"], ["end_date", "End"],
    ["initial_capital", "Capital"], ["fee_rate", "Fee rate"], ["slippage_bps", "Slippage bps"], ["leverage", "Leverage"], ["source", "Data"], ["status", "Status"]];
  const rows = [
    ...settings.map(([key, label]) => h("tr", {}, h("th", { scope: "row" }, label), records.map((r) => h("td", {}, r[key] === null || r[key] === undefined ? "—" : typeof r[key] === "string" && key.endsWith("date") ? when(r[key]) : String(r[key]))))),
    ...METRICS.map(([key, label, fmt]) => {
      const [a, b] = records.map((r) => r[key]);
      const better = (x, y) => x !== null && y !== null && x !== undefined && y !== undefined && x !== y &&
        ((HIGHER_BETTER.has(key) && x > y) || (LOWER_BETTER.has(key) && x < y));
      return h("tr", {}, h("th", { scope: "row" }, label),
        h("td", { class: "num " + (better(a, b) ? "better" : "") }, fmt(a)), h("td", { class: "num " + (better(b, a) ? "better" : "") }, fmt(b)));
    }),
  ];
  const chartBox = h("div", { class: "chart small", role: "img", "aria-label": "Both equity curves, as % from their start" });
  clear(main, h("div", { class: "row center" }, h("a", { href: "#/backtests" }, "← Backtests")), h("h1", {}, "Compare backtests"),
    h("div", { class: "panel" }, h("div", { class: "table-wrap" }, h("table", { class: "compare" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), records.map((r) => h("th", { scope: "col" }, h("a", { href: `#/backtests/${r.id}` }, r.id))))),
      h("tbody", {}, rows))),
      h("p", { class: "muted" }, "Bold green: the better of the two.")),
    h("div", { class: "panel" }, h("h2", {}, "Equity, % from start"), chartBox));
  compareChart(chartBox, records.map((r) => ({ label: r.id, points: r.equity || [] })));
}
