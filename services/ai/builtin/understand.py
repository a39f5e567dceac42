"""Reading a request in plain words: what is asked for, and the numbers that go with it.

Rules, not a model: keyword patterns find the kind of request (a strategy, an error to explain, a
`ctx` member to look up) and regular expressions pick out the parameters a trader usually says
("RSI 21 below 25", "EMA 12/26", "2% stop loss", "$50 every day", "levels 1.5% apart", "on the 4h
chart", "on ETH"). What is not said keeps the tested template's default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")
ALIASES = {"bitcoin": "BTC", "ethereum": "ETH", "ether": "ETH", "solana": "SOL", "arbitrum": "ARB", "litecoin": "LTC", "ripple": "XRP"}

STRATEGY_WORDS: dict[str, tuple[str, ...]] = {
    "grid": ("grid",),
    "dca": ("dca", "dollar cost", "dollar-cost", "accumulate", "recurring buy", "buy every", "buy a fixed", "each day buy"),
    "crossover": ("crossover", "cross over", "crosses", "crossing", "golden cross", "death cross", "moving average", "ma cross"),
    "rsi": ("rsi", "mean reversion", "mean-reversion", "oversold"),
    "breakout": ("breakout", "break out", "breaks out", "donchian", "channel high", "new high", "highest high", "atr stop"),
}
TPSL_WORDS = ("take profit", "take-profit", "takeprofit", "stop loss", "stop-loss", "stoploss", "tp/sl", "tp and sl", "profit target")
ERROR_WORDS = ("error", "compile", "fail", "exception", "wrong", "broken", "bug", "fix", "doesn't work", "does not work",
               "not working", "why does", "why is", "check my", "check this", "what happens")
NUM = r"(\d+(?:\.\d+)?)"
MONEY = r"(\d[\d,]*(?:\.\d+)?)(k?)"


@dataclass(slots=True)
class Request:
    kind: str
    """grid | dca | crossover | rsi | breakout | tpsl | explain_error | ctx_member | help"""
    params: dict[str, float] = field(default_factory=dict)
    symbol: str | None = None
    timeframe: str | None = None
    options: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def understand(text: str, symbols: list[str] | None = None, has_code: bool = False) -> Request:
    prose = re.sub(r"```.*?(?:```|$)", " ", text, flags=re.DOTALL)  # code blocks are not the request's words
    low = " ".join(prose.lower().split())
    kind = _kind(low, has_code)
    request = Request(kind=kind, symbol=find_symbol(prose, symbols or []), timeframe=find_timeframe(low))
    member = re.search(r"\bctx\.([a-z_]+)", low)
    if kind == "ctx_member" and member:
        request.options["member"] = member.group(1)
    parse = _PARSERS.get(kind)
    if parse is not None:
        parse(low, request)
    if kind in ("crossover", "breakout", "dca", "grid", "rsi"):
        _tpsl(low, request)
    if kind != "tpsl" and re.search(r"\bshort(?:s|ing)?\b|\bgo short\b", low):
        request.notes.append("the template trades long only; it never opens a short position")
    return request


def _kind(low: str, has_code: bool) -> str:
    member = re.search(r"\bctx\.[a-z_]+", low)
    asks = re.search(r"\b(what|how|explain|does|mean|use|usage|returns?)\b", low)
    if has_code and any(word in low for word in ERROR_WORDS):
        return "explain_error"
    if member and asks and not any(w in low for words in STRATEGY_WORDS.values() for w in words):
        return "ctx_member"
    for kind, words in STRATEGY_WORDS.items():
        if any(word in low for word in words):
            return kind
    if re.search(r"\b(ema|sma)\s*\(?\d+", low) and len(re.findall(r"\b(?:ema|sma)\b", low)) >= 1 and re.search(r"cross|above|below", low):
        return "crossover"
    if any(word in low for word in TPSL_WORDS) or re.search(r"\b(tp|sl)\b|\d\s*%\s*(?:profit|gain|loss)\b", low):
        return "tpsl"
    if any(word in low for word in ERROR_WORDS) or re.search(r"`[^`]+`.*(?:unknown|missing|expected|cannot|needs)", low):
        return "explain_error"
    if member:
        return "ctx_member"
    return "help"


def _first(low: str, *patterns: str) -> float | None:
    for pattern in patterns:
        match = re.search(pattern, low)
        if match:
            return _number(match.group(1))
    return None


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _set(request: Request, name: str, value: float | None, *, low: float = 0, high: float = 1e12) -> None:
    if value is not None and low <= value <= high:
        request.params[name] = value


def find_symbol(text: str, symbols: list[str]) -> str | None:
    for word in re.findall(r"[A-Za-z][A-Za-z0-9._-]*", text):
        for symbol in symbols:
            if word == symbol or (len(word) >= 3 and word.lower() == symbol.lower() and word.lower() not in ("arb",)):
                return symbol
        alias = ALIASES.get(word.lower())
        if alias is not None and (not symbols or alias in symbols):
            return alias
    return None


def find_timeframe(low: str) -> str | None:
    tf = "|".join(TIMEFRAMES)
    match = re.search(rf"(?:\bon\s+(?:the\s+|a\s+)?|timeframe\s*(?:of|=|:)?\s*)({tf})\b", low) or re.search(
        rf"\b({tf})\s+(?:chart|candles?|bars?|timeframe)", low
    )
    if match:
        return match.group(1)
    words = {"minute": "m", "min": "m", "hour": "h", "hourly": "h", "day": "d", "daily": "d"}
    match = re.search(r"\b(\d+)?[\s-]*(minute|min|hour|day)s?\s+(?:chart|candles?|bars?|timeframe)", low)
    if match:
        value = f"{match.group(1) or 1}{words[match.group(2)]}"
        return value if value in TIMEFRAMES else None
    match = re.search(r"\b(hourly|daily)\s+(?:chart|candles?|bars?|timeframe)", low)
    return f"1{words[match.group(1)]}" if match else None


# ---- per kind ---------------------------------------------------------------------------------------

def _rsi(low: str, r: Request) -> None:
    _set(r, "rsi_period", _first(low, r"rsi\s*\(\s*(\d+)\s*\)", r"(\d+)[\s-]*(?:period|bar|candle|day|hour)s?\s+rsi",
                                 r"rsi\s*(?:period|length)\s*(?:of|=|:)?\s*(\d+)", r"rsi[\s-]+(\d+)\b(?!\s*%)"), low=2, high=500)
    _set(r, "oversold", _first(
        low, r"(?:oversold|buy)(?:\s+(?:level|threshold|zone|when\s+(?:rsi\s+)?(?:is\s+)?|at))*\s*(?:below|under|<|at|=|:|of)?\s*(\d+(?:\.\d+)?)(?!\s*%)",
        r"(?:below|under|<|less than|drops?\s+(?:below|under|to))\s*(\d+(?:\.\d+)?)(?!\s*%)"), low=1, high=99)
    _set(r, "exit_level", _first(
        low, r"(?:exit|sell|close)(?:\s+(?:at|when|once|if)\s+(?:rsi\s+)?(?:is\s+|gets\s+|goes\s+|rises\s+|recovers\s+)?)?(?:above|over|>|to|at|reaches|hits)?\s*(\d+(?:\.\d+)?)(?!\s*%)",
        r"(?:recover(?:s|ed)?\s+to|back\s+(?:above|to)|overbought(?:\s+(?:level|threshold))?(?:\s+(?:at|of|is|=))?)\s*(\d+(?:\.\d+)?)(?!\s*%)",
        r"(?:above|over|>)\s*(\d+(?:\.\d+)?)(?!\s*%)"), low=1, high=100)
    if "oversold" in r.params and "exit_level" in r.params and r.params["exit_level"] <= r.params["oversold"]:
        del r.params["exit_level"]
    _size(low, r)
    hours = _first(low, r"(?:hold|time stop|max(?:imum)?\s+hold)\s*(?:of|for|at most|up to)?\s*(\d+)\s*h(?:ours?)?")
    _set(r, "max_hold_hours", hours, low=1)


def _crossover(low: str, r: Request) -> None:
    found: list[tuple[str, float]] = []
    for match in re.finditer(r"\b(ema|sma)\s*\(?\s*(\d+)\s*\)?|(\d+)[\s-]*(?:period\s+|day\s+|bar\s+)?(ema|sma)\b", low):
        kind = match.group(1) or match.group(4)
        found.append((kind, _number(match.group(2) or match.group(3))))
    fast = _first(low, r"fast\s*(?:ema|sma|ma|average|period|line)?\s*(?:of|=|:)?\s*(\d+)")
    slow = _first(low, r"slow\s*(?:ema|sma|ma|average|period|line)?\s*(?:of|=|:)?\s*(\d+)")
    if len(found) >= 2:
        (k1, n1), (k2, n2) = sorted(found[:2], key=lambda pair: pair[1])
        fast, slow = fast or n1, slow or n2
        r.options["fast_kind"], r.options["slow_kind"] = k1, k2
    else:
        pair = re.search(r"\b(\d+)\s*(?:/|and|vs\.?|x)\s*(\d+)\b(?!\s*%)", low)
        if "golden cross" in low or "death cross" in low:
            fast, slow = fast or 50, slow or 200
        if pair and (fast is None or slow is None):
            a, b = sorted((_number(pair.group(1)), _number(pair.group(2))))
            fast, slow = fast or a, slow or b
        if len(found) == 1 and fast is None and slow is None:
            fast = found[0][1]
        has_ema, has_sma = "ema" in low or "exponential" in low, bool(re.search(r"\bsma\b|simple|moving average|golden|death", low))
        if has_ema and not has_sma:
            r.options["fast_kind"] = r.options["slow_kind"] = "ema"
        elif has_sma and not has_ema:
            r.options["fast_kind"] = r.options["slow_kind"] = "sma"
    if fast is not None and slow is not None and fast >= slow:
        fast, slow = slow, fast
    _set(r, "fast", fast, low=1, high=1000)
    _set(r, "slow", slow, low=2, high=2000)
    _set(r, "band_pct", _first(low, r"(?:band|buffer|hysteresis|margin)\s*(?:of|=|:)?\s*(\d+(?:\.\d+)?)\s*%",
                               r"(\d+(?:\.\d+)?)\s*%\s*(?:band|buffer|hysteresis|margin)"), high=20)
    _size(low, r)


def _grid(low: str, r: Request) -> None:
    _set(r, "spacing_pct", _first(
        low, r"(\d+(?:\.\d+)?)\s*%\s*(?:apart|spacing|grid|step|steps|levels?|intervals?|gaps?|between)",
        r"(?:spacing|step|gap|apart|spaced|interval)\s*(?:of|=|:|by)?\s*(\d+(?:\.\d+)?)\s*%", r"every\s+(\d+(?:\.\d+)?)\s*%"), low=0.01, high=50)
    levels = _first(low, r"(\d+)\s*(?:grid\s+)?(?:levels|lines|steps|orders|units|rungs)", r"(?:levels|max units|units)\s*(?:of|=|:)?\s*(\d+)")
    _set(r, "max_units", levels, low=1, high=1000)
    span = re.search(rf"between\s*\$?\s*{MONEY}\s*(?:and|-|to)\s*\$?\s*{MONEY}", low)
    if span:
        lo = _number(span.group(1)) * (1000 if span.group(2) else 1)
        hi = _number(span.group(3)) * (1000 if span.group(4) else 1)
        lo, hi = sorted((lo, hi))
        steps = r.params.get("max_units") or 10
        if lo > 0 and hi > lo and "spacing_pct" not in r.params:
            r.params["spacing_pct"] = round(((hi / lo) ** (1 / steps) - 1) * 100, 3)
            r.params.setdefault("max_units", steps)
            r.notes.append(
                f"the grid keeps its ladder around the last fill rather than fixed between {lo:g} and {hi:g}: levels "
                f"{r.params['spacing_pct']:g}% apart span that range in {steps:g} steps"
            )
    _quantity(low, r)


def _breakout(low: str, r: Request) -> None:
    _set(r, "lookback", _first(
        low, r"(\d+)[\s-]*(?:bar|candle|period|day|hour|week)s?\s+(?:high|channel|breakout|donchian|range|lookback)",
        r"(?:lookback|channel|donchian|breakout)\s*(?:of|=|:|period|length)?\s*(\d+)\b(?!\s*%)"), low=2, high=5000)
    _set(r, "atr_mult", _first(low, r"(\d+(?:\.\d+)?)\s*(?:x|×|times)\s*(?:the\s+)?atr", r"atr\s*(?:multiplier|mult|multiple)\s*(?:of|=|:)?\s*(\d+(?:\.\d+)?)"),
         low=0.1, high=20)
    _set(r, "atr_period", _first(low, r"atr\s*\(\s*(\d+)\s*\)", r"atr\s*(?:period|length)\s*(?:of|=|:)?\s*(\d+)", r"(\d+)[\s-]*(?:period|bar)\s+atr"),
         low=1, high=1000)
    _set(r, "risk_pct", _first(low, r"risk(?:ing|s)?\s*(?:of\s*)?(\d+(?:\.\d+)?)\s*%", r"(\d+(?:\.\d+)?)\s*%\s*risk"), low=0.01, high=100)
    _set(r, "max_leverage", _first(low, r"(?:max(?:imum)?\s+)?leverage\s*(?:of|=|:)?\s*(\d+(?:\.\d+)?)\s*x?", r"(\d+(?:\.\d+)?)\s*x\s+leverage"),
         low=1, high=100)


def _dca(low: str, r: Request) -> None:
    budget_match = re.search(rf"(?:budget|total|in total|up to|max(?:imum)?|cap(?:ped)?(?:\s+at)?)\s*(?:of\s*)?\$?\s*{MONEY}", low)
    budget = None
    if budget_match:
        budget = _number(budget_match.group(1)) * (1000 if budget_match.group(2) else 1)
        _set(r, "budget", budget, low=1)
    for match in re.finditer(rf"\$\s*{MONEY}|{MONEY}\s*(?:usd[tc]?|dollars|\$)", low):
        if budget_match and budget_match.start() <= match.start() < budget_match.end() + 2:
            continue
        amount = _number(match.group(1) or match.group(3)) * (1000 if (match.group(2) or match.group(4)) else 1)
        _set(r, "amount", amount, low=0.01)
        break
    every = re.search(r"every\s+(\d+)?\s*(hour|day|week|h|d)s?\b", low)
    hours = {"hour": 1, "h": 1, "day": 24, "d": 24, "week": 168}
    if every:
        _set(r, "interval_hours", float(every.group(1) or 1) * hours[every.group(2)], low=0.01)
    elif re.search(r"\bhourly\b", low):
        r.params["interval_hours"] = 1
    elif re.search(r"\bdaily\b|\beach day\b|\bper day\b|\ba day\b", low):
        r.params["interval_hours"] = 24
    elif re.search(r"\bweekly\b|\beach week\b|\bper week\b|\ba week\b", low):
        r.params["interval_hours"] = 168
    _set(r, "dip_multiplier", _first(low, r"(\d+(?:\.\d+)?)\s*(?:x|×|times)\s*(?:as much|more)?\s*(?:on|when|during|in|below)?\s*(?:the\s+)?(?:dips?|below)"),
         low=1, high=20)
    if re.search(r"\b(?:double|twice)\b", low) and "dip_multiplier" not in r.params:
        r.params["dip_multiplier"] = 2
    if re.search(r"no dip|without (?:the )?dip|plain dca|fixed amount only", low):
        r.params["dip_sma"] = 0
    else:
        _set(r, "dip_sma", _first(low, r"(?:sma|moving average|ma)\s*\(?\s*(\d+)\)?", r"(\d+)[\s-]*(?:(?:day|bar|period)\s+)?(?:sma|moving average|ma)\b"),
             low=1, high=5000)


def _tpsl_only(low: str, r: Request) -> None:
    _tpsl(low, r)
    r.params.setdefault("take_profit_pct", r.params.pop("take_profit_pct", 5))
    r.params.setdefault("stop_pct", 2)


def _tpsl(low: str, r: Request) -> None:
    _set(r, "stop_pct", _first(
        low, r"(\d+(?:\.\d+)?)\s*%\s*(?:trailing\s+)?(?:stop|sl\b)",
        r"(?:stop(?:[\s-]*loss)?|\bsl)\s*(?:of|at|=|:|to)?\s*(\d+(?:\.\d+)?)\s*%",
        r"(?:loss|lose|drop|down|against)\s*(?:of|at|reaches|hits|exceeds|is|by)?\s*(\d+(?:\.\d+)?)\s*%",
        r"(\d+(?:\.\d+)?)\s*%\s*(?:loss|down|against|drop)"), low=0.01, high=95)
    _set(r, "take_profit_pct", _first(
        low, r"(\d+(?:\.\d+)?)\s*%\s*(?:take[\s-]*profit|tp\b|profit\s+target|target|profit|gain|up|in (?:my )?favou?r)",
        r"(?:take[\s-]*profit|\btp|profit\s+target|target|profit|gain|up)\s*(?:of|at|=|:|to|reaches|hits|is|by)?\s*(\d+(?:\.\d+)?)\s*%"),
        low=0.01, high=1000)


def _size(low: str, r: Request) -> None:
    _set(r, "size_pct", _first(
        low, r"(\d+(?:\.\d+)?)\s*%\s*(?:of\s+)?(?:my\s+|the\s+)?(?:equity|account|capital|balance|portfolio)",
        r"(?:size|position size|position)\s*(?:of|=|:)?\s*(\d+(?:\.\d+)?)\s*%"), low=0.01, high=100)


def _quantity(low: str, r: Request) -> None:
    match = re.search(r"(\d*\.\d+|\d+)\s*(?:btc|eth|sol|arb|ltc|xrp|eos|coins?|tokens?)\b", low) or re.search(
        r"(?:quantity|qty|size|amount)\s*(?:of|=|:|per\s+(?:level|order|unit))?\s*(\d*\.\d+|\d+)\b(?!\s*%)", low)
    if match:
        _set(r, "quantity", _number(match.group(1)), low=1e-9, high=1e9)


_PARSERS = {"rsi": _rsi, "crossover": _crossover, "grid": _grid, "breakout": _breakout, "dca": _dca, "tpsl": _tpsl_only}
