"""Market-data figures on the IB Gateway simulator: batched quotes against one quote at a time, a week of
5-minute bars, and a read-cache hit. Run: `python -m bench.market_figures` (medians in milliseconds).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.ibkr.connection import IBKRConnectionManager
from services.market_data import MarketDataService
from settings import Settings
from simulators.ib_gateway import IBGatewaySimulator

ACCOUNT = "DU1234567"
TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA", "JPM", "SPY", "QQQ", "IWM")


def median_ms(action: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 3)


def measure(runs: int = 20) -> dict[str, float]:
    sim = IBGatewaySimulator(accounts=(ACCOUNT,))
    sim.start()
    manager = IBKRConnectionManager("127.0.0.1", sim.port, 51, request_timeout=10, max_requests_per_second=0)
    try:
        adapter = IBKRBrokerAdapter(manager)
        uncached = MarketDataService(Settings(_env_file=None, MARKET_DATA_CACHE_SECONDS=0), [adapter])
        cached = MarketDataService(Settings(_env_file=None, MARKET_DATA_CACHE_SECONDS=60), [adapter])
        uncached.get_quotes(ACCOUNT, TICKERS)  # connect and qualify once
        cached.get_historical_bars(ACCOUNT, "AAPL", "1 day", "1 Y")
        return {
            "quotes_10_batched_ms": median_ms(lambda: uncached.get_quotes(ACCOUNT, TICKERS), runs),
            "quotes_10_one_by_one_ms": median_ms(lambda: [adapter.get_quote(ACCOUNT, t) for t in TICKERS], runs),
            "bars_5min_1week_all_hours_ms": median_ms(lambda: uncached.get_historical_bars(
                ACCOUNT, "AAPL", "5 mins", "1 W", rth_only=False, end="2025-06-27T20:00:00-04:00"), max(3, runs // 2)),
            "cache_hit_ms": median_ms(lambda: cached.get_historical_bars(ACCOUNT, "AAPL", "1 day", "1 Y"), runs),
        }
    finally:
        manager.shutdown()
        sim.close()


if __name__ == "__main__":
    for name, value in measure().items():
        print(f"{name}: {value}")
