"""The web page in a real headless Chromium against a real platform (HTTP → NATS → services → SQLite).

One walk through what a trader does, in order: sign in with a token when the API says 401, write a
program and see the validator's diagnostic appear at its line while typing, fix it, save, test-run it,
backtest it to completion and see the candles drawn with their entry/exit arrows (pixels read back
from the canvas), open a trigger's detail, compare two backtests, create an account and a binding on a
1-minute schedule and watch its execution appear in the log. Screenshots of the main pages go to
docs/screenshots/. The first render of the programs page is measured with the performance API and
printed (reported, not asserted).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.web.conftest import SCREENSHOTS, WebPlatform

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

BROKEN = "fn run(ctx) {\n    let fast = ctx.sma(10);\n    let slow = ;\n}\n"
PROGRAM = """fn run(ctx) {
    let fast = ctx.sma(10);
    let slow = ctx.sma(30);
    if is_null(fast) || is_null(slow) {
        return;
    }
    let up = fast > slow;
    if ctx.state.get("up", up) != up {
        if up {
            ctx.buy(ctx.symbol, 0.05, "cross up");
        } else {
            ctx.close(ctx.symbol, "cross down");
        }
    }
    ctx.state.up = up;
}
"""
EVERY_MINUTE = """fn run(ctx) {
    ctx.log("run on a " + ctx.trigger.type + " trigger");
    if ctx.position() == null {
        ctx.buy(ctx.symbol, 0.01, "open");
    } else {
        ctx.close(ctx.symbol, "flat");
    }
}
"""

# light theme colours of styles.css: candles up/down, entry and exit arrows
COLOURS = {"up": (8, 153, 129), "down": (242, 54, 69), "entry": (41, 98, 255), "exit": (255, 109, 0)}
COUNT_COLOURS = """(args) => {
  const [selector, colours] = args;
  const counts = Object.fromEntries(Object.keys(colours).map((k) => [k, 0]));
  counts.painted = 0;
  for (const canvas of document.querySelectorAll(selector + " canvas")) {
    if (!canvas.width || !canvas.height) continue;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] === 0) continue;
      counts.painted++;
      for (const [name, [r, g, b]] of Object.entries(colours)) {
        if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 24) counts[name]++;
      }
    }
  }
  return counts;
}"""


async def shot(page: Any, name: str, top: str | None = None) -> None:
    """A screenshot for the README (toasts cleared; `top`: a heading to scroll to the top first)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("() => document.getElementById('toasts').replaceChildren()")
    if top is not None:
        await page.get_by_role("heading", name=top).evaluate("(e) => e.scrollIntoView()")
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


UNLABELLED = """() => [...document.querySelectorAll("main input, main select, main textarea, main button, header button")]
  .filter((e) => e.offsetParent !== null && e.type !== "hidden")
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby")
    && !(e.tagName === "BUTTON" && e.textContent.trim()))
  .map((e) => e.outerHTML.slice(0, 120))"""


async def assert_labelled(page: Any) -> None:
    """Every visible control has an accessible name (a <label>, aria-label or its text)."""
    assert await page.evaluate(UNLABELLED) == []


async def finished(page: Any) -> None:
    """Wait for the backtest page to show its result, or fail with the error it shows instead."""
    outcome = page.locator('[data-testid="metrics"], main [role="alert"]').first
    await outcome.wait_for(timeout=90_000)
    assert await outcome.get_attribute("data-testid") == "metrics", await outcome.inner_text()


async def set_code(page: Any, code: str) -> None:
    """Replace the editor's text as a user would: select all, then type (input events fire)."""
    editor = page.get_by_test_id("code")
    await editor.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    # insert_text fires one input event with the whole text (typing key by key would auto-indent)
    await page.keyboard.insert_text(code)


async def select_by_text(select: Any, text: str) -> None:
    await select.select_option(label=await select.locator("option", has_text=text).first.inner_text())


async def api(platform: WebPlatform, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {platform.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, platform.base_url + path, json=body, headers=headers) as response:
            assert response.status < 300, await response.text()
            return await response.json()


async def test_write_test_backtest_and_bind_a_program_in_the_browser(web_platform: WebPlatform, browser: Any) -> None:
    errors: list[str] = []
    context = await browser.new_context(viewport={"width": 1440, "height": 960}, color_scheme="light")
    page = await context.new_page()
    page.set_default_timeout(30_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    base = web_platform.base_url

    # -- sign in: the API says 401, the login box asks for a token ----------------------------------
    await page.goto(base + "/")
    dialog = page.locator("dialog#login")
    await dialog.wait_for(state="visible")
    await page.get_by_label("API token").fill(web_platform.token)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_text("No programs yet").wait_for()
    assert await page.evaluate("sessionStorage.getItem('hyperoru.token')") == web_platform.token

    # -- first render of the programs page: a fresh tab (cold cache), the token already in its session --
    cold = await browser.new_context(viewport={"width": 1440, "height": 960})
    await cold.add_init_script(f"sessionStorage.setItem('hyperoru.token', {web_platform.token!r})")
    cold_page = await cold.new_page()
    await cold_page.goto(base + "/")
    await cold_page.get_by_text("No programs yet").wait_for()
    first_render_ms = await cold_page.evaluate("() => performance.getEntriesByName('programs-rendered')[0].startTime")
    loaded = await cold_page.evaluate("() => performance.getEntriesByType('resource').reduce((n, r) => n + r.decodedBodySize, 0)")
    await cold.close()
    print(f"\nfirst render of the programs page: {first_render_ms:.0f} ms after navigation start (cold cache); "
          f"it loaded {loaded:,} bytes of files and API replies (decoded)")

    # -- write a program: a syntax error shows up at its line and column, then goes away -----------
    await page.get_by_role("link", name="New program").click()
    await page.get_by_test_id("name").fill("SMA cross (browser)")
    await set_code(page, BROKEN)
    diagnostics = page.get_by_test_id("diagnostics")
    await diagnostics.get_by_text(re.compile(r"Line 3, column \d+: error")).wait_for()
    assert await page.locator(".editor .gutter div.err").first.inner_text() == "3"
    assert await page.locator(".editor pre .diag-err").count() >= 1
    assert await page.get_by_test_id("validity").get_attribute("data-state") == "invalid"
    await page.locator(".diag-bubble").wait_for()
    await shot(page, "editor-diagnostic")
    await set_code(page, PROGRAM)
    await page.locator('[data-testid="validity"][data-state="valid"]').wait_for()
    assert await diagnostics.locator("li.err").count() == 0
    assert await page.locator(".editor pre .tok-kw").count() > 5  # highlighted
    await page.get_by_test_id("save").click()
    await page.wait_for_url(re.compile(r"#/programs/\d+$"))
    program_id = int(page.url.rsplit("/", 1)[1])

    # -- test-run against a chosen symbol ---------------------------------------------------------
    await page.get_by_test_id("test-symbol").select_option("ETH")
    await page.get_by_test_id("test-run").click()
    result = page.get_by_test_id("test-result")
    await result.get_by_test_id("decision").wait_for()
    assert await result.get_by_test_id("source").inner_text() in {"simulator", "store", "hyperliquid"}
    await shot(page, "programs-editor")
    await assert_labelled(page)

    # -- versions with a diff -------------------------------------------------------------------
    await set_code(page, PROGRAM.replace("0.05", "0.08"))
    await page.locator('[data-testid="validity"][data-state="valid"]').wait_for()
    await page.get_by_test_id("save").click()
    await page.get_by_text("Saved version 2").wait_for()
    await page.get_by_role("tab", name="Versions").click()
    await page.get_by_text("1 line added, 1 removed").wait_for()
    assert await page.locator(".diff .add").count() == 1

    # -- backtest to completion: metrics, candles with markers, trigger detail ---------------------
    await page.get_by_role("link", name="Backtest…").click()
    await page.get_by_test_id("bt-program").wait_for()
    assert await page.get_by_test_id("bt-program").input_value() == str(program_id)
    await page.get_by_test_id("bt-symbol").select_option("BTC")
    await page.get_by_test_id("bt-timeframe").select_option("1h")
    await page.get_by_test_id("bt-start").fill("2024-01-01")
    await page.get_by_test_id("bt-end").fill("2024-03-01")
    await page.get_by_test_id("bt-submit").click()
    await page.wait_for_url(re.compile(r"#/backtests/bt-[0-9a-f]+$"))
    first_backtest = page.url.rsplit("/", 1)[1]
    await finished(page)
    chart = page.get_by_test_id("candle-chart")
    await page.locator('#candles[data-markers]:not([data-markers="0"])').wait_for()
    assert int(await chart.get_attribute("data-candles")) > 1000
    await page.wait_for_timeout(300)  # one animation frame or so for the canvas
    colours = await page.evaluate(COUNT_COLOURS, ["#candles", COLOURS])
    print(f"candle chart pixels: {colours}")
    assert colours["up"] > 200 and colours["down"] > 200, colours  # candles are drawn
    assert colours["entry"] > 10 and colours["exit"] > 10, colours  # and so are the entry/exit arrows
    equity = await page.evaluate(COUNT_COLOURS, ["#equity", {"line": (11, 92, 213), "drawdown": (242, 54, 69)}])
    assert equity["line"] > 50 and equity["drawdown"] > 50, equity
    await shot(page, "backtest-result", top="Results")
    # a click on the bar of a marker opens the trigger of that bar
    markers = await api(web_platform, "GET", f"/api/programs/backtest/{first_backtest}/markers?limit=500")
    # bars here are about a pixel wide: click a marker with no other marker within a day of it
    times = [datetime.fromisoformat(m["timestamp"]) for m in markers]
    lonely = next(m for i, m in enumerate(markers) if all(abs(times[i] - t) > timedelta(hours=24) for j, t in enumerate(times) if j != i))
    trades = await api(web_platform, "GET", f"/api/programs/backtest/{first_backtest}/trades?limit=5")
    await chart.scroll_into_view_if_needed()
    x = await chart.evaluate("(el, ts) => el.xOf(ts)", lonely["timestamp"])
    box = await chart.bounding_box()
    assert x is not None and 0 < x < box["width"], x
    await page.mouse.click(box["x"] + x, box["y"] + box["height"] / 2)
    detail = page.get_by_test_id("trigger-detail")
    await detail.get_by_text("Values the program read").wait_for()
    assert await detail.locator("dd").first.inner_text() == lonely["timestamp"].replace("T", " ").replace("Z", " UTC")
    await page.locator("table >> text=Exit reason").scroll_into_view_if_needed()
    await page.locator("tr.clickable").nth(1).click()
    await detail.get_by_text(re.compile("^" + re.escape(trades[1]["entry_time"].replace("T", " ").replace("Z", " UTC")))).wait_for()
    assert await detail.locator("code", has_text="sma(").count() >= 2

    # -- compare with a second backtest (fees) -------------------------------------------------------
    second = await api(web_platform, "POST", f"/api/programs/{program_id}/backtest",
                       {"symbol": "BTC", "timeframe": "1h", "start_date": "2024-01-01", "end_date": "2024-03-01", "fee_rate": 0.002})
    await page.goto(f"{base}/#/backtests/{second['backtest_id']}")
    await finished(page)
    await page.goto(f"{base}/#/compare/{first_backtest}/{second['backtest_id']}")
    await page.get_by_text("Bold green: the better of the two.").wait_for()
    assert await page.locator("td.better").count() > 0
    await page.wait_for_timeout(200)
    await shot(page, "backtest-compare")
    await page.goto(f"{base}/#/backtests")
    await page.get_by_role("link", name=first_backtest).wait_for()
    await shot(page, "backtest-history")
    await assert_labelled(page)

    # -- live: an account, a binding on a 1-minute schedule, its executions as they happen ----------
    await api(web_platform, "POST", "/api/programs/", {"name": "Every minute", "code": EVERY_MINUTE})
    await page.goto(f"{base}/#/live/accounts")
    await page.get_by_test_id("account-name").fill("Paper one")
    await page.get_by_test_id("account-create").click()
    await page.get_by_text("Account “Paper one” (#").wait_for()
    await page.get_by_role("tab", name="Bindings").click()
    await select_by_text(page.get_by_test_id("binding-program"), "Every minute")
    await select_by_text(page.get_by_test_id("binding-account"), "Paper one")
    await page.get_by_test_id("binding-symbol").select_option("BTC")
    await page.get_by_test_id("binding-schedule-kind").select_option("interval")
    await page.get_by_test_id("binding-schedule").fill("1m")
    await page.get_by_test_id("binding-create").click()
    await page.get_by_text(re.compile(r"Binding #\d+ created")).wait_for()
    await page.get_by_role("cell", name="every 1m").wait_for()
    await page.get_by_role("button", name="Preview run").first.click()
    await page.get_by_test_id("preview").wait_for()
    await shot(page, "live-bindings")
    await assert_labelled(page)
    await page.get_by_role("tab", name="Executions").click()
    executions = page.get_by_test_id("executions")
    await executions.locator("tr.clickable").first.wait_for(timeout=60_000)  # the clock fires it (speed 60)
    await executions.locator("tr.clickable").first.click()
    await page.get_by_test_id("execution-detail").get_by_text("schedule trigger").wait_for()
    await shot(page, "live-executions")
    await assert_labelled(page)
    await page.get_by_role("tab", name="Signal pools").click()
    await page.get_by_test_id("pool-name").fill("BTC dips")
    await page.get_by_role("button", name="+ Add condition").click()
    await page.get_by_test_id("pool-create").click()
    await page.get_by_role("cell", name="BTC dips", exact=True).wait_for()
    await assert_labelled(page)

    # keyboard: arrow keys move between tabs; a binding is disabled in place
    await page.get_by_role("tab", name="Signal pools").focus()
    await page.keyboard.press("ArrowRight")
    assert await page.get_by_role("tab", name="Bindings").get_attribute("aria-selected") == "true"
    toggle = page.locator('[data-testid^="binding-enabled-"]').first
    await toggle.wait_for()
    await toggle.uncheck()
    await page.get_by_text(re.compile(r"Binding #\d+ disabled")).wait_for()
    bindings = await api(web_platform, "GET", "/api/programs/bindings/")
    assert [b["enabled"] for b in bindings] == [False]

    # the theme button: auto → dark → light → auto
    await page.get_by_role("button", name=re.compile("Colour theme")).click()
    assert await page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    await page.get_by_role("button", name=re.compile("Colour theme")).click()
    assert await page.evaluate("() => document.documentElement.dataset.theme") == "light"
    await page.get_by_role("button", name=re.compile("Colour theme")).click()  # back to following the system
    assert await page.evaluate("() => document.documentElement.dataset.theme ?? null") is None

    # -- narrow screens: the editor and the chat stack --------------------------------------------
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{base}/#/programs/{program_id}")
    await page.get_by_test_id("code").wait_for()
    await shot(page, "mobile-editor")
    await page.set_viewport_size({"width": 1440, "height": 960})

    # -- the same page in the dark theme, for the README ------------------------------------------
    await page.emulate_media(color_scheme="dark")
    await page.goto(f"{base}/#/backtests/{first_backtest}")
    await finished(page)
    await page.locator('#candles[data-markers]:not([data-markers="0"])').wait_for()
    await page.wait_for_timeout(300)
    await shot(page, "backtest-result-dark", top="Results")

    assert errors == [], errors
    await context.close()


async def test_ai_chat_streams_an_answer_and_puts_its_code_in_the_editor(web_platform: WebPlatform, browser: Any) -> None:
    if not web_platform.has_ai:
        pytest.skip("the ai service cannot be imported in this tree")
    context = await browser.new_context(viewport={"width": 1440, "height": 960})
    await context.add_init_script(f"sessionStorage.setItem('hyperoru.token', {web_platform.token!r})")
    page = await context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    events: list[str] = []
    page.on("response", lambda r: events.append(r.headers.get("content-type", "")) if r.url.endswith("/ai-chat") else None)
    await page.goto(web_platform.base_url + "/#/programs/new")
    await page.get_by_label("Message to the assistant").fill("Write an RSI mean-reversion program for ETH, oversold at 25")
    await page.get_by_role("button", name="Send").click()
    log = page.get_by_test_id("chat-log")
    await log.get_by_text("Proposed code: it compiles.").wait_for()
    assert await log.locator(".tool").count() >= 1  # tool calls streamed in as they happened
    assert events and events[0].startswith("text/event-stream")
    await page.get_by_test_id("use-code").click()
    code = await page.get_by_test_id("code").input_value()
    assert "ctx.rsi" in code
    await page.locator('[data-testid="validity"][data-state="valid"]').wait_for()
    await shot(page, "ai-chat")
    assert errors == [], errors
    await context.close()
