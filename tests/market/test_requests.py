"""Human market-data arguments normalised to IBKR strings; anything else is a VALIDATION_ERROR listing the accepted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from brokers.errors import ErrorCode, TradeError
from brokers.market_requests import (
    BAR_SIZES,
    parse_bar_size,
    parse_bars_request,
    parse_duration,
    parse_end,
    parse_expiry,
    parse_tickers,
    parse_what_to_show,
)
from cli_market import close_chart
from services.read_cache import ReadCache


@pytest.mark.parametrize(("given", "canonical"), [
    ("5 min", "5 mins"), ("5m", "5 mins"), ("5 minutes", "5 mins"), ("1 min", "1 min"), ("1m", "1 min"),
    ("1 minute", "1 min"), ("1 hour", "1 hour"), ("1h", "1 hour"), ("4 hours", "4 hours"), ("30s", "30 secs"),
    ("1 day", "1 day"), ("1D", "1 day"), ("daily", "1 day"), ("Daily", "1 day"), ("1 W", "1 week"),
    ("weekly", "1 week"), ("1 M", "1 month"), ("1 month", "1 month"), ("monthly", "1 month"), ("1 hourly", None),
])
def test_bar_sizes_normalise_to_ibkr_strings(given: str, canonical: str | None) -> None:
    if canonical is None:
        with pytest.raises(TradeError):
            parse_bar_size(given)
    else:
        assert parse_bar_size(given) == canonical


@pytest.mark.parametrize("bad", ["7 min", "1 fortnight", "", "five minutes", 5, None, "2 days"])
def test_a_bad_bar_size_lists_every_accepted_value(bad: object) -> None:
    with pytest.raises(TradeError) as caught:
        parse_bar_size(bad)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert caught.value.details["accepted"] == list(BAR_SIZES)
    assert "'5 mins'" in caught.value.message and "'1 day'" in caught.value.message


@pytest.mark.parametrize(("given", "canonical"), [
    ("1 M", "1 M"), ("1M", "1 M"), ("1 month", "1 M"), ("3 months", "3 M"), ("30 days", "30 D"), ("1 D", "1 D"),
    ("2w", "2 W"), ("1 week", "1 W"), ("1y", "1 Y"), ("1 year", "1 Y"), ("3600 S", "3600 S"),
    ("90 minutes", "5400 S"), ("2 hours", "7200 S"),
])
def test_durations_normalise_to_ibkr_strings(given: str, canonical: str) -> None:
    assert parse_duration(given) == canonical


@pytest.mark.parametrize("bad", ["0 D", "400 D", "1 decade", "M", "13 M", "-1 D", None])
def test_a_bad_duration_is_refused_with_the_accepted_forms(bad: object) -> None:
    with pytest.raises(TradeError) as caught:
        parse_duration(bad)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR and "'<n> D'" in caught.value.message


def test_what_to_show_end_and_rth() -> None:
    assert parse_what_to_show("midpoint") == "MIDPOINT" and parse_what_to_show("bid ask") == "BID_ASK"
    with pytest.raises(TradeError):
        parse_what_to_show("VOLUME")
    assert parse_end("2025-06-30") == datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)
    east = timezone(timedelta(hours=-4))
    assert parse_end("2025-06-30T16:00:00-04:00") == datetime(2025, 6, 30, 16, tzinfo=east)
    assert parse_end("2025-06-30T16:00:00").tzinfo is UTC  # type: ignore[union-attr]
    assert parse_end(None) is None
    with pytest.raises(TradeError):
        parse_end("yesterday")
    request = parse_bars_request("AAPL", "5m", "1 day", "trades", "false")
    assert (request.bar_size, request.duration, request.what_to_show, request.rth_only) == ("5 mins", "1 D",
                                                                                              "TRADES", False)


def test_too_many_bars_and_adjusted_last_with_an_end_are_refused() -> None:
    with pytest.raises(TradeError) as caught:
        parse_bars_request("AAPL", "1 secs", "1 D")
    assert caught.value.code is ErrorCode.VALIDATION_ERROR and caught.value.details["max_bars"] == 10_000
    assert parse_bars_request("AAPL", "1 min", "1 W").estimated_bars < 10_000
    with pytest.raises(TradeError):
        parse_bars_request("AAPL", "1 day", "1 M", "ADJUSTED_LAST", True, "2025-01-01")


def test_tickers_and_expiry() -> None:
    assert parse_tickers(["aapl", "MSFT", "AAPL", " spy "]) == ("AAPL", "MSFT", "SPY")
    assert parse_tickers("AAPL,MSFT") == ("AAPL", "MSFT")
    for bad in ([], ["AAPL", ""], ["A" * 70], [1], ["X"] * 51):
        with pytest.raises(TradeError) as caught:
            parse_tickers(bad)
        assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert parse_expiry("2025-12-19") == "20251219" and parse_expiry(None) is None
    for bad in ("20251332", "Dec 19", "2025121"):
        with pytest.raises(TradeError):
            parse_expiry(bad)


def test_the_read_cache_expires_and_never_crosses_accounts() -> None:
    now = [0.0]
    cache = ReadCache(5.0, clock=lambda: now[0])
    loads: list[str] = []

    def load(value: str) -> str:
        loads.append(value)
        return value

    assert cache.get_or_load("A", ("pnl",), lambda: load("a1")) == "a1"
    assert cache.get_or_load("A", ("pnl",), lambda: load("a2")) == "a1"
    assert cache.get_or_load("B", ("pnl",), lambda: load("b1")) == "b1"
    now[0] = 5.0
    assert cache.get_or_load("A", ("pnl",), lambda: load("a3")) == "a3"
    assert loads == ["a1", "b1", "a3"]
    assert ReadCache(0).get_or_load("A", 1, lambda: "x") == "x" and ReadCache(0).peek("A", 1) is None


def test_close_chart_draws_highs_and_lows() -> None:
    chart = close_chart([Decimal(v) for v in (1, 2, 3, 4, 5)], rows=4, width=10)
    lines = chart.splitlines()
    assert len(lines) == 4 and lines[0].startswith("           5 ┤") and lines[-1].startswith("           1 ┤")
    assert lines[0].endswith("█") and lines[-1][-5] == "▁"
    assert close_chart([]) == "(no bars)"
