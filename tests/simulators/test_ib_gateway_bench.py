"""The throughput benchmark runs and measures what it claims (small N: a smoke test, not a figure)."""

from __future__ import annotations

from bench.ib_gateway_throughput import run


def test_raw_client_round_trips() -> None:
    result = run(orders=400, window=50, client="raw")
    assert result["measured"] and result["orders_in_book"] == 400
    assert result["round_trips_per_second"] > 0 and result["sim_cpu_seconds"] > 0
    assert result["messages_received"] >= 400 * 6  # openOrder, status, exec, openOrder, status, commission


def test_ib_async_client_round_trips_at_157() -> None:
    result = run(orders=100, window=20, server_version=157, client="ib_async")
    assert result["measured"] and result["orders_in_book"] == 100
