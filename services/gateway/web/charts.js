// Charts: TradingView Lightweight Charts (vendored, Apache-2.0; its attribution logo stays on). A
// candlestick chart with the backtest's entry/exit markers, and an equity curve with its drawdown in a
// second pane. Colours come from the stylesheet, so the charts follow the light/dark theme.

import {
  AreaSeries, CandlestickSeries, LineSeries, createChart, createSeriesMarkers,
} from "./vendor/lightweight-charts-5.2.1.mjs";

const live = new Set();

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
export const toTime = (iso) => Math.floor(Date.parse(iso) / 1000);

function themeOptions() {
  return {
    layout: { background: { type: "solid", color: css("--panel") }, textColor: css("--chart-text"), attributionLogo: true },
    grid: { vertLines: { color: css("--chart-grid") }, horzLines: { color: css("--chart-grid") } },
    rightPriceScale: { borderColor: css("--border") },
    timeScale: { borderColor: css("--border"), timeVisible: true, secondsVisible: false },
  };
}

function make(container) {
  const chart = createChart(container, { autoSize: true, ...themeOptions() });
  const entry = { chart, container, restyle: [] };
  live.add(entry);
  return entry;
}

/** Re-read the theme's colours into every chart on the page (and forget charts that left it). */
export function restyleCharts() {
  for (const entry of [...live]) {
    if (!entry.container.isConnected) { entry.chart.remove(); live.delete(entry); continue; }
    entry.chart.applyOptions(themeOptions());
    for (const fn of entry.restyle) fn();
  }
}

document.addEventListener("theme-changed", restyleCharts);

/** Index of the last bar at or before `t` (bars sorted by time). */
function barAt(times, t) {
  let lo = 0, hi = times.length - 1, best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= t) { best = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return best;
}

/**
 * Candles with entry/exit markers. candles: [{time ISO, open, high, low, close}], markers: the API's
 * [{type: entry|exit, timestamp, price, side}]. onPick(marker) is called when a bar with a marker is
 * clicked. Returns {chart, markerCount}.
 */
export function candleChart(container, candles, markers, onPick) {
  const { chart, restyle } = make(container);
  const series = chart.addSeries(CandlestickSeries, { borderVisible: false });
  const colourSeries = () => series.applyOptions({
    upColor: css("--chart-up"), downColor: css("--chart-down"), wickUpColor: css("--chart-up"), wickDownColor: css("--chart-down"),
  });
  colourSeries();
  const data = candles.map((c) => ({ time: toTime(c.time), open: c.open, high: c.high, low: c.low, close: c.close }));
  series.setData(data);
  const times = data.map((d) => d.time);
  const byBar = new Map();
  const toMarker = (m) => {
    const bar = times.length ? times[barAt(times, toTime(m.timestamp))] : toTime(m.timestamp);
    if (!byBar.has(bar)) byBar.set(bar, []);
    byBar.get(bar).push(m);
    const buy = m.side === "buy";
    return {
      time: bar,
      position: buy ? "belowBar" : "aboveBar",
      color: m.type === "entry" ? css("--marker-entry") : css("--marker-exit"),
      shape: buy ? "arrowUp" : "arrowDown",
      text: labelled ? m.side : undefined, // words only while they do not cover the candles
    };
  };
  const labelled = markers.length <= 40;
  const sorted = [...markers].sort((a, b) => toTime(a.timestamp) - toTime(b.timestamp));
  byBar.clear();
  const plugin = createSeriesMarkers(series, sorted.map(toMarker));
  restyle.push(() => { colourSeries(); byBar.clear(); plugin.setMarkers(sorted.map(toMarker)); });
  chart.timeScale().fitContent();
  if (onPick) {
    // bars can be narrower than a pixel: take the marker nearest the click, within a few pixels
    chart.subscribeClick((param) => {
      if (!param.point) return;
      let best = null, bestDistance = 8;
      for (const [bar, hits] of byBar) {
        const x = chart.timeScale().timeToCoordinate(bar);
        if (x === null) continue;
        const distance = Math.abs(x - param.point.x);
        if (distance < bestDistance || (distance === bestDistance && bar === param.time)) { best = hits[0]; bestDistance = distance; }
      }
      if (best) onPick(best);
    });
  }
  const xOf = (iso) => chart.timeScale().timeToCoordinate(times.length ? times[barAt(times, toTime(iso))] : toTime(iso));
  return { chart, markerCount: sorted.length, xOf, focusTime: (iso) => {
    const t = toTime(iso);
    const range = chart.timeScale().getVisibleRange();
    if (range && (t < range.from || t > range.to)) {
      const span = range.to - range.from;
      chart.timeScale().setVisibleRange({ from: t - span / 2, to: t + span / 2 });
    }
  } };
}

/** Equity (top pane) and drawdown in % from the running peak (bottom pane). points: [{time, equity}]. */
export function equityChart(container, points) {
  const { chart, restyle } = make(container);
  const equity = chart.addSeries(LineSeries, { lineWidth: 2, priceLineVisible: false, title: "equity" });
  const drawdown = chart.addSeries(AreaSeries, { lineWidth: 1, priceLineVisible: false, title: "drawdown %",
    priceFormat: { type: "custom", formatter: (v) => v.toFixed(2) + " %" } }, 1);
  const colour = () => {
    equity.applyOptions({ color: css("--equity") });
    drawdown.applyOptions({ lineColor: css("--drawdown"), topColor: "rgba(242,54,69,0.05)", bottomColor: "rgba(242,54,69,0.35)", invertFilledArea: true });
  };
  colour();
  restyle.push(colour);
  let peak = -Infinity;
  const eq = [], dd = [];
  let last = null;
  for (const p of points) {
    const t = toTime(p.time);
    if (last !== null && t <= last) continue; // strictly increasing times only
    last = t;
    peak = Math.max(peak, p.equity);
    eq.push({ time: t, value: p.equity });
    dd.push({ time: t, value: peak > 0 ? ((p.equity - peak) / peak) * 100 : 0 });
  }
  equity.setData(eq);
  drawdown.setData(dd);
  const panes = chart.panes();
  if (panes[1]) panes[1].setHeight(Math.round(container.clientHeight * 0.3) || 90);
  chart.timeScale().fitContent();
  return { chart, maxDrawdown: dd.reduce((m, p) => Math.min(m, p.value), 0) };
}

/** Several equity curves on one chart, each as % return from its start (to compare backtests). */
export function compareChart(container, curves) {
  const { chart, restyle } = make(container);
  const palette = ["--equity", "--marker-exit", "--good", "--tok-kw"];
  const series = curves.map((curve, i) => {
    const s = chart.addSeries(LineSeries, { lineWidth: 2, title: curve.label, priceLineVisible: false,
      priceFormat: { type: "custom", formatter: (v) => v.toFixed(2) + " %" } });
    const first = curve.points.length ? curve.points[0].equity : 1;
    let last = null;
    const data = [];
    for (const p of curve.points) {
      const t = toTime(p.time);
      if (last !== null && t <= last) continue;
      last = t;
      data.push({ time: t, value: first ? ((p.equity - first) / first) * 100 : 0 });
    }
    s.setData(data);
    return [s, palette[i % palette.length]];
  });
  const colour = () => { for (const [s, name] of series) s.applyOptions({ color: css(name) }); };
  colour();
  restyle.push(colour);
  chart.timeScale().fitContent();
  return { chart };
}
