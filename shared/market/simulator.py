"""The deterministic market simulator: the embedded default source of candles for any date range.

What it guarantees, and how:

- Deterministic and random-access. Every random number is a hash of (seed, symbol, stream, index)
  (splitmix64 over a counter, vectorised in numpy), never the state of a sequential generator. So
  the candle at a given minute depends only on that minute's day and the few day-level values around
  it: the same candle comes back for the same time whatever range was asked, overlapping queries
  agree, and 2035 costs as much as 2015.
- Larger timeframes are resampled from the 1-minute path, so a 1h candle is exactly the aggregate of
  its sixty 1m candles (prices bit-identical; volume sums equal up to float rounding order).
- Realistic levels: the log price is a Brownian bridge between "anchor" levels drawn every
  `anchor_days` around the symbol's current-ish centre, so prices wander with real daily volatility
  but stay within the symbol's usual range (±2 sigma of the anchors = `price_range`), in any year.
- Realistic volatility, calibrated on the bundled real 30m candles (2017-2019; reproduce with
  `python -m shared.market.data.calibrate`): daily volatility per symbol, the intraday U-shape of
  volatility and volume (48 half-hour slots, UTC), volatility clustering (a persistent daily
  log-volatility factor, std 0.5, plus an hourly one), volume correlated with the size of the move.
  SOL and ARB have no bundled history; they take LTC's and EOS's volatility as proxies (a large and
  a smaller alt-coin).
- Candles are internally consistent: within each minute the high and low are exact draws of the
  maximum and minimum of a Brownian bridge between the minute's open and close; open = previous close;
  prices are rounded to 5 significant figures of the symbol's level (Hyperliquid's price rule).

Speed: a year of 1m candles for one symbol is generated in ~0.1-0.2 s (days are processed in chunks
so memory stays bounded for long ranges of large timeframes).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from shared.market.candles import MAX_TIME_MS, CandleArrays
from shared.market.resample import resample_complete
from shared.market.timeframes import DAY_MS, MINUTE_MS, ceil_time, floor_time, timeframe_ms

MINUTES_PER_DAY = 1440
_CHUNK_DAYS = 32

# Intraday shape per 30-minute UTC slot (00:00, 00:30, …), averaged over the five bundled symbols and
# lightly smoothed. Volatility: RMS-normalised to 1; volume: mean-normalised to 1.
VOL_SEASON = np.array([
    1.22, 1.18, 1.07, 0.98, 0.94, 0.93, 0.91, 0.89, 0.90, 0.88, 0.87, 0.87, 0.88, 0.90, 0.93, 0.98,
    1.03, 0.99, 0.96, 1.01, 1.01, 0.96, 0.96, 1.02, 1.05, 1.03, 1.02, 1.04, 1.06, 1.06, 1.05, 1.12,
    1.18, 1.11, 0.99, 0.91, 0.87, 0.88, 0.90, 0.94, 0.98, 0.98, 0.98, 1.03, 1.07, 1.09, 1.08, 1.12,
])
VOLUME_SEASON = np.array([
    1.14, 1.07, 0.96, 0.89, 0.86, 0.84, 0.81, 0.77, 0.77, 0.76, 0.76, 0.79, 0.83, 0.88, 0.92, 0.99,
    1.04, 1.04, 1.01, 1.01, 1.02, 1.01, 1.03, 1.09, 1.15, 1.15, 1.17, 1.19, 1.21, 1.24, 1.26, 1.34,
    1.41, 1.28, 1.12, 1.02, 0.94, 0.89, 0.89, 0.92, 0.96, 0.95, 0.89, 0.87, 0.90, 0.94, 0.97, 1.06,
])
VOL_SEASON = VOL_SEASON / np.sqrt(np.mean(VOL_SEASON**2))
VOLUME_SEASON = VOLUME_SEASON / VOLUME_SEASON.mean()
_VOL_BY_MINUTE = np.repeat(VOL_SEASON, 30)
_VOLUME_BY_MINUTE = np.repeat(VOLUME_SEASON, 30)

DAY_VOL_OF_VOL = 0.6  # std of the daily log-volatility factor (real daily realised vol: 0.5-0.7, incl. noise)
HOUR_VOL_OF_VOL = 0.35  # std of the hourly log-volatility factor (intraday clustering, fat tails)
VOLUME_NOISE = 0.8  # std of per-minute log volume around its expected level
VOLUME_SLOT_NOISE = 0.7  # std of a per-30-minute log volume factor (real 30m volumes vary ~0.9 in log)
# The volatility factors have RMS 1, hence mean exp(-s²/2); volume uses them too, so undo that mean.
_VOLUME_LEVEL = math.exp(DAY_VOL_OF_VOL**2 / 2 + HOUR_VOL_OF_VOL**2 / 2)


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """How one symbol behaves: usual price range, daily volatility, daily traded value."""

    symbol: str
    price_range: tuple[float, float]  # ~95% of simulated prices fall inside
    daily_vol: float  # std of daily log returns (calibrated, see module docstring)
    daily_value_usd: float  # traded value per day, sets the volume level
    calibrated_from: str

    @property
    def center(self) -> float:
        return math.sqrt(self.price_range[0] * self.price_range[1])

    @property
    def level_sigma(self) -> float:
        return math.log(self.price_range[1] / self.price_range[0]) / 4.0

    @property
    def anchor_days(self) -> int:
        # A bridge over A days adds variance daily_vol² · A / 4 at its middle; choosing
        # A = 2 · level_sigma² / daily_vol² keeps the level's spread the same between anchors as at them.
        return int(min(256, max(8, round(2 * self.level_sigma**2 / self.daily_vol**2))))

    @property
    def decimals(self) -> int:
        return 4 - math.floor(math.log10(self.center))


PROFILES: tuple[SymbolProfile, ...] = (
    SymbolProfile("BTC", (60_000.0, 110_000.0), 0.044, 2.5e9, "BTC"),
    SymbolProfile("ETH", (2_000.0, 4_000.0), 0.054, 1.2e9, "ETH"),
    SymbolProfile("SOL", (100.0, 250.0), 0.060, 4.0e8, "LTC (proxy)"),
    SymbolProfile("ARB", (0.3, 1.5), 0.075, 2.0e7, "EOS (proxy)"),
    SymbolProfile("XRP", (1.5, 3.5), 0.069, 1.5e8, "XRP"),
    SymbolProfile("LTC", (60.0, 140.0), 0.060, 2.0e7, "LTC"),
    SymbolProfile("EOS", (0.4, 1.2), 0.075, 5.0e6, "EOS"),
)

# Random streams: one per kind of draw, so no two quantities ever share a random number.
_ANCHOR, _DAY_STEP, _DAY_VOL, _VOL8, _VOL32, _HOUR_VOL, _MINUTE, _HIGH, _LOW, _VOLUME, _VOLUME_SLOT = range(1, 12)
_SECOND = 1000  # offset of the second uniform of a Box-Muller pair

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic is intended)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


class _Hasher:
    """Counter-based random numbers for one (seed, symbol): uniform/normal draws indexed by integers."""

    def __init__(self, seed: int, symbol: str) -> None:
        digest = hashlib.blake2b(f"{seed}:{symbol}".encode(), digest_size=8).digest()
        self._key = int.from_bytes(digest, "little")

    def _bits(self, stream: int, index: np.ndarray) -> np.ndarray:
        base = _mix(np.array([(self._key + stream * 0xD1B54A32D192ED03) % 2**64], dtype=np.uint64))[0]
        with np.errstate(over="ignore"):
            return _mix(index.astype(np.uint64) * _GOLDEN + base)

    def uniform(self, stream: int, index: np.ndarray) -> np.ndarray:
        """Uniform in (0, 1), never exactly 0 or 1 (safe for log)."""
        return ((self._bits(stream, index) >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2**53)

    def normal(self, stream: int, index: np.ndarray) -> np.ndarray:
        u1 = self.uniform(stream, index)
        u2 = self.uniform(stream + _SECOND, index)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


class _SymbolModel:
    """The price/volume model of one symbol under one seed."""

    def __init__(self, profile: SymbolProfile, seed: int) -> None:
        self.profile = profile
        self.rand = _Hasher(seed, profile.symbol)
        self.log_center = math.log(profile.center)

    # -- day level ------------------------------------------------------------------------------------
    def _smooth(self, stream: int, days: np.ndarray, spacing: int) -> np.ndarray:
        """Unit-variance value noise: hashed normals every `spacing` days, linearly interpolated."""
        cell = days // spacing
        frac = (days % spacing) / spacing
        a = self.rand.normal(stream, cell)
        b = self.rand.normal(stream, cell + 1)
        return ((1 - frac) * a + frac * b) / np.sqrt((1 - frac) ** 2 + frac**2)

    def day_vol(self, days: np.ndarray) -> np.ndarray:
        """Volatility multiplier of each day (RMS 1, so the daily volatility is as calibrated): persistent
        over weeks, with daily noise."""
        factor = (
            0.45 * self.rand.normal(_DAY_VOL, days)
            + 0.60 * self._smooth(_VOL8, days, 8)
            + 0.65 * self._smooth(_VOL32, days, 32)
        )
        return np.exp(DAY_VOL_OF_VOL * factor - DAY_VOL_OF_VOL**2)

    def day_levels(self, first_day: int, last_day: int) -> np.ndarray:
        """Log price at 00:00 UTC of each day in [first_day, last_day] (a bridge between anchors)."""
        span = self.profile.anchor_days
        k0, k1 = first_day // span, last_day // span
        anchors = self.log_center + self.profile.level_sigma * self.rand.normal(_ANCHOR, np.arange(k0, k1 + 2))
        days = np.arange(k0 * span, (k1 + 1) * span)
        sigma = self.profile.daily_vol * self.day_vol(days)
        steps = (sigma * self.rand.normal(_DAY_STEP, days)).reshape(-1, span)
        var = (sigma * sigma).reshape(-1, span)
        walk = np.cumsum(steps, axis=1) - steps  # sum of the steps before each day
        cumvar = np.cumsum(var, axis=1) - var
        frac = cumvar / var.sum(axis=1, keepdims=True)
        levels = anchors[:-1, None] + frac * (anchors[1:, None] - anchors[:-1, None]) + walk - frac * steps.sum(axis=1, keepdims=True)
        offset = first_day - k0 * span
        return levels.reshape(-1)[offset : offset + last_day - first_day + 1]

    # -- minutes -----------------------------------------------------------------------------------------
    def minutes(self, first_day: int, days: int) -> CandleArrays:
        """Every 1m candle of `days` whole days starting at `first_day` (a bridge between day levels)."""
        p = self.profile
        day_index = np.arange(first_day, first_day + days)
        levels = self.day_levels(first_day, first_day + days)
        minute = np.arange(first_day * MINUTES_PER_DAY, (first_day + days) * MINUTES_PER_DAY, dtype=np.int64)
        hours = np.arange(first_day * 24, (first_day + days) * 24)
        slots = np.arange(first_day * 48, (first_day + days) * 48)
        hour_vol = np.repeat(np.exp(HOUR_VOL_OF_VOL * self.rand.normal(_HOUR_VOL, hours) - HOUR_VOL_OF_VOL**2), 60)
        day_vol = self.day_vol(day_index)
        shape = (days, MINUTES_PER_DAY)
        sigma = (p.daily_vol / math.sqrt(MINUTES_PER_DAY)) * (
            day_vol[:, None] * _VOL_BY_MINUTE[None, :] * hour_vol.reshape(shape)
        )
        z = self.rand.normal(_MINUTE, minute).reshape(shape)
        steps = sigma * z
        var = sigma * sigma
        walk = np.cumsum(steps, axis=1)
        cumvar = np.cumsum(var, axis=1)
        frac = cumvar / cumvar[:, -1:]
        close = levels[:-1, None] + frac * (levels[1:, None] - levels[:-1, None]) + walk - frac * walk[:, -1:]
        close = close.reshape(-1)
        open_ = np.concatenate([[levels[0]], close[:-1]])
        open_[MINUTES_PER_DAY::MINUTES_PER_DAY] = levels[1:-1]  # exact day boundaries
        var = var.reshape(-1)
        move = close - open_
        reach_up = np.sqrt(move * move - 2.0 * var * np.log(self.rand.uniform(_HIGH, minute)))
        reach_down = np.sqrt(move * move - 2.0 * var * np.log(self.rand.uniform(_LOW, minute)))
        high = 0.5 * (open_ + close + reach_up)
        low = 0.5 * (open_ + close - reach_down)
        decimals = p.decimals
        o, h, lo, c = (np.round(np.exp(x), decimals) for x in (open_, high, low, close))
        size = np.abs(z.reshape(-1)) / math.sqrt(2 / math.pi)  # 1 on average
        volume = (
            (p.daily_value_usd / MINUTES_PER_DAY) / c
            * _VOLUME_LEVEL
            * np.tile(_VOLUME_BY_MINUTE, days)
            * np.repeat(day_vol, MINUTES_PER_DAY)
            * hour_vol
            * np.exp(VOLUME_NOISE * self.rand.normal(_VOLUME, minute) - VOLUME_NOISE**2 / 2)
            * np.repeat(np.exp(VOLUME_SLOT_NOISE * self.rand.normal(_VOLUME_SLOT, slots) - VOLUME_SLOT_NOISE**2 / 2), 30)
            * (0.4 + 0.6 * size)
        )
        return CandleArrays(minute * MINUTE_MS, o, h, lo, c, np.round(volume, 4))


class Simulator:
    """Deterministic candles for the configured symbols (see module docstring). Pure, synchronous, cheap."""

    name = "simulator"

    def __init__(self, seed: int = 42, profiles: Iterable[SymbolProfile] = PROFILES) -> None:
        self.seed = seed
        self._models = {p.symbol: _SymbolModel(p, seed) for p in profiles}

    def symbols(self) -> list[str]:
        return sorted(self._models)

    def has(self, symbol: str) -> bool:
        return symbol in self._models

    def profile(self, symbol: str) -> SymbolProfile:
        return self._model(symbol).profile

    def _model(self, symbol: str) -> _SymbolModel:
        try:
            return self._models[symbol]
        except KeyError:
            raise KeyError(f"the simulator has no symbol {symbol!r}; it has {', '.join(self.symbols())}") from None

    def candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> CandleArrays:
        """Every candle of `timeframe` whose open time is in [start_ms, end_ms) (1970..2200)."""
        model = self._model(symbol)
        period = timeframe_ms(timeframe)
        start = max(0, ceil_time(start_ms, period))
        end = min(floor_time(MAX_TIME_MS, DAY_MS), ceil_time(end_ms, period))
        if end <= start:
            return CandleArrays.empty()
        parts = []
        first_day, last_day = start // DAY_MS, (end - 1) // DAY_MS
        for day in range(first_day, last_day + 1, _CHUNK_DAYS):
            days = min(_CHUNK_DAYS, last_day + 1 - day)
            minutes = model.minutes(day, days).between(start, end)
            parts.append(resample_complete(minutes, MINUTE_MS, period))
        return CandleArrays.concat(parts) if len(parts) > 1 else parts[0]

    def price(self, symbol: str, at_ms: int) -> float:
        """Last traded price at `at_ms`: the close of the last 1m candle closed by then."""
        minute_open = floor_time(at_ms, MINUTE_MS) - MINUTE_MS
        return float(self.candles(symbol, "1m", minute_open, minute_open + MINUTE_MS).close[-1])
