"""Market data: one port (`MarketData`) over stored candles, the simulator and Hyperliquid, plus numpy indicators.

The executor, backtester and ai services all read candles, prices, indicator values and program views
through this package, so they always see the same market. See `market_data.py` for the port,
`sourcing.py` for which one source answers each series (and what `source`/`note` say),
`indicators.py` for the indicator definitions, `view.py` for the protocol programs see.
"""

from shared.market.bundled import ensure_bundled_history, load_bundle
from shared.market.candle_store import CandleStore, Coverage, SyncCandleReader
from shared.market.candles import CandleArrays, candle_problems
from shared.market.csv_import import parse_candles_csv
from shared.market.errors import CandleDataError, CsvImportError, MarketDataUnavailableError, NoCandlesError
from shared.market.hyperliquid import HyperliquidClient
from shared.market.market_data import MarketData, MarketRequestError, Quote, build_market_data
from shared.market.registry import INDICATORS, IndicatorSpec, compute_indicators, parse_indicator_call
from shared.market.resample import resample
from shared.market.simulator import Simulator
from shared.market.sourcing import STORE, Sourced
from shared.market.store_mongo import MongoCandleStore
from shared.market.store_sqlite import SqliteCandleStore
from shared.market.timeframes import TIMEFRAMES, parse_timeframe, timeframe_ms
from shared.market.view import IndicatorError, IndicatorValue, MarketView, UnknownSymbolError
from shared.market.views import BacktestView, LiveView

__all__ = [
    "INDICATORS",
    "TIMEFRAMES",
    "BacktestView",
    "CandleArrays",
    "CandleDataError",
    "CandleStore",
    "Coverage",
    "CsvImportError",
    "HyperliquidClient",
    "IndicatorError",
    "IndicatorSpec",
    "IndicatorValue",
    "LiveView",
    "MarketData",
    "MarketDataUnavailableError",
    "MarketRequestError",
    "MarketView",
    "MongoCandleStore",
    "NoCandlesError",
    "Quote",
    "STORE",
    "Simulator",
    "Sourced",
    "SqliteCandleStore",
    "SyncCandleReader",
    "UnknownSymbolError",
    "build_market_data",
    "candle_problems",
    "compute_indicators",
    "ensure_bundled_history",
    "load_bundle",
    "parse_candles_csv",
    "parse_indicator_call",
    "parse_timeframe",
    "resample",
    "timeframe_ms",
]
