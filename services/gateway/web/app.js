// The page's entry point: a hash router (#/programs, #/programs/7, #/backtests, #/backtests/bt-…,
// #/compare/bt-a/bt-b, #/live/executions), the colour theme (system, dark or light) and the sign-out
// button. Pages are modules with a `render(main, params)`; the backtest and live pages (and the chart
// library they use) load only when first opened, so the programs page renders without them.

import { token, setToken } from "./api.js";
import { h, clear, errorBox } from "./dom.js";
import * as programs from "./programs.js";

const THEMES = ["auto", "dark", "light"];
const THEME_KEY = "hyperoru.theme";

const routes = [
  [/^#?\/?$/, () => ({ page: programs, params: {} })],
  [/^#\/programs\/?$/, () => ({ page: programs, params: {} })],
  [/^#\/programs\/new$/, () => ({ page: programs, params: { id: "new" } })],
  [/^#\/programs\/(\d+)$/, (m) => ({ page: programs, params: { id: Number(m[1]) } })],
  [/^#\/backtests\/?(?:\?(.*))?$/, async (m) => ({ page: await import("./backtests.js"), params: { query: new URLSearchParams(m[1] || "") } })],
  [/^#\/backtests\/(bt-[0-9a-f]+)$/, async (m) => ({ page: await import("./backtests.js"), params: { id: m[1] } })],
  [/^#\/compare\/(bt-[0-9a-f]+)\/(bt-[0-9a-f]+)$/, async (m) => ({ page: await import("./backtests.js"), params: { compare: [m[1], m[2]] } })],
  [/^#\/live(?:\/(\w+))?$/, async (m) => ({ page: await import("./live.js"), params: { tab: m[1] || "bindings" } })],
];

let firstRender = true;

async function route() {
  const main = document.getElementById("main");
  const hash = location.hash || "#/programs";
  const section = (hash.match(/^#\/(\w+)/) || [, "programs"])[1];
  for (const a of document.querySelectorAll("[data-nav]")) {
    const current = a.dataset.nav === section || (a.dataset.nav === "backtests" && section === "compare");
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  for (const [pattern, resolve] of routes) {
    const m = hash.match(pattern);
    if (!m) continue;
    try {
      const { page, params } = await resolve(m);
      await page.render(main, params);
    } catch (err) {
      console.error(err);
      clear(main, h("h1", {}, "Something went wrong"), errorBox(err));
    }
    if (!firstRender) main.focus({ preventScroll: true });
    firstRender = false;
    return;
  }
  clear(main, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, hash), ". ", h("a", { href: "#/programs" }, "Programs")));
}

function applyTheme(theme) {
  if (theme === "auto") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", theme);
  const button = document.getElementById("theme-toggle");
  button.textContent = `Theme: ${theme}`;
  button.setAttribute("aria-label", `Colour theme: ${theme === "auto" ? "follows the system" : theme}. Change theme`);
  document.dispatchEvent(new Event("theme-changed")); // charts, when loaded, re-read their colours
}

function setupTheme() {
  let theme = localStorage.getItem(THEME_KEY) || "auto";
  if (!THEMES.includes(theme)) theme = "auto";
  applyTheme(theme);
  document.getElementById("theme-toggle").addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    localStorage.setItem(THEME_KEY, theme);
    applyTheme(theme);
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => applyTheme(theme));
}

function setupAuth() {
  const button = document.getElementById("sign-out");
  const show = () => { button.hidden = !token(); };
  button.addEventListener("click", () => { setToken(null); location.reload(); });
  document.addEventListener("auth-changed", show);
  show();
}

setupTheme();
setupAuth();
window.addEventListener("hashchange", route);
route();
