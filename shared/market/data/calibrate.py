"""Print the statistics the simulator is calibrated on, for the bundled real candles and for the simulator.

    python -m shared.market.data.calibrate

Why: the simulator's constants (daily volatility per symbol, the intraday volatility and volume
profiles, the volatility-clustering strength) are read off the real 2017-2019 history; this script
is how they were obtained and how anyone can check the simulator still resembles it. numpy only.
"""

from __future__ import annotations

import numpy as np

from shared.market.bundled import load_bundle
from shared.market.candles import CandleArrays
from shared.market.resample import resample
from shared.market.simulator import PROFILES, Simulator
from shared.market.timeframes import DAY_MS
from shared.timefmt import parse_time

HALF_HOUR = 30 * 60_000


def stats(c: CandleArrays) -> dict[str, float | np.ndarray]:
    """Daily volatility, vol clustering, intraday profiles and volume/move coupling of a 30m series."""
    daily = resample(c, DAY_MS)
    day_returns = np.diff(np.log(daily.close))
    r = np.diff(np.log(c.close))
    t = c.time[1:]
    day = t // DAY_MS
    days, index = np.unique(day, return_inverse=True)
    realised = np.sqrt(np.bincount(index, weights=r * r))
    log_rv = np.log(realised[realised > 0])
    slot = (t % DAY_MS) // HALF_HOUR
    vol_profile = np.sqrt(np.bincount(slot, weights=r * r, minlength=48) / np.bincount(slot, minlength=48))
    vol_profile /= np.sqrt(np.mean(vol_profile**2))
    log_v = np.log(np.maximum(c.volume[1:], 1e-12))
    day_mean = (np.bincount(index, weights=log_v) / np.bincount(index))[index]
    volume_profile = np.exp(np.bincount(slot, weights=log_v - day_mean, minlength=48) / np.bincount(slot, minlength=48))
    volume_profile /= volume_profile.mean()
    sigma = r.std()
    return {
        "daily_vol": float(day_returns.std()),
        "log_rv_std": float(log_rv.std()),
        "log_rv_ac1": float(np.corrcoef(log_rv[:-1], log_rv[1:])[0, 1]),
        "kurtosis_30m": float(np.mean((r - r.mean()) ** 4) / sigma**4 - 3),
        "range_over_sigma": float(np.mean(np.log(c.high / c.low)) / sigma),
        "volume_move_corr": float(np.corrcoef(np.abs(r) / sigma, log_v)[0, 1]),
        "vol_profile": vol_profile,
        "volume_profile": volume_profile,
    }


def main() -> None:
    sim = Simulator(42)
    print(f"{'series':<22}{'daily vol':>10}{'logRV sd':>10}{'logRV ac1':>10}{'kurt 30m':>10}{'range/sd':>10}{'vol~|r|':>9}")
    profiles = []
    for symbol, candles in load_bundle().items():
        s = stats(candles)
        profiles.append((s["vol_profile"], s["volume_profile"]))
        print(f"{symbol + ' real 2017-19':<22}{s['daily_vol']:>10.4f}{s['log_rv_std']:>10.2f}{s['log_rv_ac1']:>10.2f}"
              f"{s['kurtosis_30m']:>10.1f}{s['range_over_sigma']:>10.2f}{s['volume_move_corr']:>9.2f}")
    for profile in PROFILES:
        s = stats(sim.candles(profile.symbol, "30m", parse_time("2024-01-01"), parse_time("2026-01-01")))
        print(f"{profile.symbol + ' simulated':<22}{s['daily_vol']:>10.4f}{s['log_rv_std']:>10.2f}{s['log_rv_ac1']:>10.2f}"
              f"{s['kurtosis_30m']:>10.1f}{s['range_over_sigma']:>10.2f}{s['volume_move_corr']:>9.2f}"
              f"   (target daily vol {profile.daily_vol}, from {profile.calibrated_from})")
    vol = np.mean([p[0] for p in profiles], axis=0)
    volume = np.mean([p[1] for p in profiles], axis=0)
    print("real intraday volatility profile (48 half-hours, UTC):", np.round(vol / np.sqrt(np.mean(vol**2)), 2).tolist())
    print("real intraday volume profile (48 half-hours, UTC):    ", np.round(volume / volume.mean(), 2).tolist())


if __name__ == "__main__":
    main()
