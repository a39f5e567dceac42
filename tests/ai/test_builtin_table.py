"""The built-in offline assistant on realistic requests: each answer's code validates, test-runs without
error, and does what was asked (the parameters asked for are the code's defaults, the indicator asked
for is read, the stop asked for is attached). Runs on the default platform (no `AI_BASE_URL`)."""

from __future__ import annotations

import pytest

from tests.harness import Api

# (request, strings the code must contain, symbol and timeframe the test run used)
CASES: list[tuple[str, list[str], str, str]] = [
    ("Write an RSI mean reversion strategy", ["ctx.rsi(period)", 'get("rsi_period", 14)'], "BTC", "1h"),
    ("RSI(21) on ETH: buy below 25 and sell when it recovers to 60", ["ctx.rsi(period)", 'get("rsi_period", 21)', 'get("oversold", 25)',
                                                                      'get("exit_level", 60)'], "ETH", "1h"),
    ("mean reversion on SOL with RSI 7, oversold 20, 2% stop loss and 4% take profit, 15% of equity",
     ['get("rsi_period", 7)', 'get("oversold", 20)', 'get("stop_pct", 2)', 'get("take_profit_pct", 4)', 'get("size_pct", 15)'], "SOL", "1h"),
    ("buy bitcoin when the 14-period RSI drops below 30 on the 4h chart", ["ctx.rsi(period)", 'get("oversold", 30)'], "BTC", "4h"),
    ("SMA/EMA crossover strategy", ["ctx.ema(fast_period)", "ctx.sma(slow_period)"], "BTC", "1h"),
    ("EMA 12 / EMA 26 crossover on ETH using 20% of equity", ["ctx.ema(fast_period)", "ctx.ema(slow_period)", 'get("fast", 12)',
                                                              'get("slow", 26)', 'get("size_pct", 20)'], "ETH", "1h"),
    ("golden cross on BTC daily candles", ["ctx.sma(fast_period)", "ctx.sma(slow_period)", 'get("fast", 50)', 'get("slow", 200)'], "BTC", "1d"),
    ("sma 10/30 crossover with a 3% stop loss", ["ctx.sma(fast_period)", 'get("fast", 10)', 'get("slow", 30)', 'get("stop_pct", 3)',
                                                 "stop_loss: ctx.price * (1 - stop_pct / 100)"], "BTC", "1h"),
    ("moving average crossover, fast 9 slow 21, with 5% take profit and 2% stop", ['get("fast", 9)', 'get("slow", 21)',
                                                                                  "take_profit: ctx.price * (1 + take_profit_pct / 100)",
                                                                                  "stop_loss: ctx.price * (1 - stop_pct / 100)"], "BTC", "1h"),
    ("Help me write a grid trading program", ["spacing_pct", "ctx.state.last_level"], "BTC", "1h"),
    ("grid on ETH with levels 0.5% apart, 0.05 ETH per level, max 10 levels", ['get("spacing_pct", 0.5)', 'get("quantity", 0.05)',
                                                                               'get("max_units", 10)'], "ETH", "1h"),
    ("BTC grid between 60000 and 70000 with 10 levels", ['get("max_units", 10)', 'get("spacing_pct", 1.553)'], "BTC", "1h"),
    ("breakout strategy", ["ctx.atr(atr_period)", "highest_high"], "BTC", "1h"),
    ("Donchian breakout of the 55-bar high with a 3x ATR trailing stop, risking 1%", ['get("lookback", 55)', 'get("atr_mult", 3)',
                                                                                    'get("risk_pct", 1)'], "BTC", "1h"),
    ("breakout on SOL with ATR(10) and a 10% take profit", ['get("atr_period", 10)', "take_profit: ctx.price * (1 + take_profit_pct / 100)",
                                                           'get("take_profit_pct", 10)'], "SOL", "1h"),
    ("DCA into bitcoin", ["ctx.state.last_buy_ts", 'get("amount", 100)'], "BTC", "1h"),
    ("dollar cost average $50 every day into ETH, twice as much below the 100 SMA, budget $3000",
     ['get("amount", 50)', 'get("interval_hours", 24)', 'get("dip_multiplier", 2)', 'get("dip_sma", 100)', 'get("budget", 3000)'], "ETH", "1h"),
    ("DCA $25 weekly without the dip rule", ['get("amount", 25)', 'get("interval_hours", 168)', 'get("dip_sma", 0)'], "BTC", "1h"),
    ("DCA every 4 hours, $10 each", ['get("interval_hours", 4)', 'get("amount", 10)'], "BTC", "1h"),
    ("close my position at 5% take profit or 2% stop loss", ["ctx.position()", "ctx.close(ctx.symbol", 'get("take_profit_pct", 5)',
                                                             'get("stop_pct", 2)'], "BTC", "1h"),
    ("take-profit 8% and stop-loss 3% for my ETH position", ['get("take_profit_pct", 8)', 'get("stop_pct", 3)'], "ETH", "1h"),
    ("RSI strategy on ARB with a 1.5% stop-loss", ['get("stop_pct", 1.5)', "ctx.rsi(period)"], "ARB", "1h"),
]


@pytest.mark.parametrize(("request_text", "expected", "symbol", "timeframe"), CASES, ids=[c[0][:40] for c in CASES])
async def test_builtin_request_gives_a_program_that_works(api: Api, request_text: str, expected: list[str], symbol: str, timeframe: str) -> None:
    status, body = await api.post("/api/programs/ai-chat", {"message": request_text})
    assert status == 200, body
    assert body["provider"] == "builtin" and body["response"].startswith("**Built-in assistant** (offline")
    code = body["code"]
    assert code is not None and body["diagnostics"]["valid"] is True, body["response"]
    for fragment in expected:
        assert fragment in code, (fragment, code)
    test_run = next(call for call in body["tool_calls"] if call["name"] == "test_run")
    assert test_run["ok"] and (test_run["arguments"]["symbol"], test_run["arguments"]["timeframe"]) == (symbol, timeframe)
    status, run = await api.post("/api/programs/test-run", {"code": code, "symbol": symbol, "timeframe": timeframe})
    assert status == 200 and run["status"] == "ok", run


def test_there_are_at_least_twenty_requests() -> None:
    assert len(CASES) >= 20


async def test_the_take_profit_guard_closes_a_winning_position(api: Api) -> None:
    _, body = await api.post("/api/programs/ai-chat", {"message": "close my BTC position at 5% profit or 2% loss"})
    _, market = await api.post("/api/programs/query-market-data", {"symbol": "BTC"})
    for entry, action in ((market["price"] / 1.10, "close"), (market["price"] / 0.95, "close"), (market["price"], "hold")):
        account = {"positions": [{"symbol": "BTC", "side": "long", "size": 0.01, "entry_price": entry}]}
        status, run = await api.post("/api/programs/test-run", {"code": body["code"], "symbol": "BTC", "account": account})
        assert status == 200 and run["result"]["action"] == action, run


async def test_explains_errors_and_offers_a_fix_that_compiles(api: Api) -> None:
    broken = "fn run(ctx) {\n    let qty = 0.01\n    ctx.buy(ctx.symbol, qtty);\n}\n"
    _, body = await api.post("/api/programs/ai-chat", {"message": f"I get an error here:\n```\n{broken}```"})
    assert "does not compile" in body["response"] and "Fix:" in body["response"]
    assert body["code"] is not None and body["diagnostics"]["valid"] is True
    assert "let qty = 0.01;" in body["code"] and "ctx.buy(ctx.symbol, qty);" in body["code"]


async def test_explains_runtime_errors_of_code_that_compiles(api: Api) -> None:
    code = 'fn run(ctx) {\n    let bars = ctx.candles(3);\n    ctx.hold("x " + str(bars[10].close));\n}\n'
    _, body = await api.post("/api/programs/ai-chat", {"message": f"why does this fail?\n```\n{code}```"})
    assert "The program compiles" in body["response"] and "runtime error" in body["response"]
    assert "out of range" in body["response"] and "bars.len()" in body["response"]
    assert body["code"] is None  # the user's own code is not proposed back


async def test_quotes_the_guide_on_a_ctx_member(api: Api) -> None:
    _, body = await api.post("/api/programs/ai-chat", {"message": "What does ctx.position do?"})
    assert "ctx.position() and ctx.position(symbol)" in body["response"] and body["code"] is None
    assert [c["name"] for c in body["tool_calls"]] == ["read_guide_section"]
    _, body = await api.post("/api/programs/ai-chat", {"message": "how do I use ctx.prices?"})
    assert "`ctx.prices` is not a member of `ctx`" in body["response"]


async def test_says_plainly_what_it_cannot_do(api: Api) -> None:
    _, body = await api.post("/api/programs/ai-chat", {"message": "write me a poem about the moon"})
    assert "did not recognise" in body["response"] and "not an AI model" in body["response"] and body["code"] is None


async def test_quick_backtest_when_asked(api: Api) -> None:
    _, body = await api.post("/api/programs/ai-chat", {"message": "RSI mean reversion on BTC, and backtest it"})
    names = [c["name"] for c in body["tool_calls"]]
    assert names == ["list_symbols", "test_run", "quick_backtest", "validate_code"]
    assert body["tool_calls"][2]["ok"] and "Quick backtest (bt-" in body["response"]
