"""Issue 15: search_symbol finds by company name at IBKR (reqMatchingSymbols) as at SnapTrade, over MCP."""

from __future__ import annotations

import pytest

from tests.assistant.test_truthful_results import SETTLE, call
from tests.market.conftest import ACCOUNT, Market
from tests.mcp.conftest import payload


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_a_company_name_finds_its_ticker_first_at_both_brokers(market: Market) -> None:
    ibkr = payload(call(market, "search_symbol", account_id=ACCOUNT, ticker="apple"))
    snaptrade = payload(call(market, "search_symbol", account_id=market.snaptrade_account, ticker="apple"))
    for found in (ibkr, snaptrade):
        first = found["matches"][0]
        assert first["ticker"] == "AAPL" and "APPLE" in first["description"].upper()
    assert ibkr["matches"][0]["broker_symbol_id"] == "265598" and ibkr["matches"][0]["sec_type"] == "STK"
    # a word of the name, not only its first one; the exact ticker keeps coming first
    assert [m["ticker"] for m in payload(call(market, "search_symbol", account_id=ACCOUNT,
                                               ticker="micro"))["matches"]] == ["MSFT", "/MES"]
    exact = payload(call(market, "search_symbol", account_id=ACCOUNT, ticker="MSFT"))["matches"]
    assert [m["ticker"] for m in exact] == ["MSFT"] and exact[0]["broker_symbol_id"] == "272093"
    # a bare ES is still only ever the future named in the notation an order takes
    es = payload(call(market, "search_symbol", account_id=ACCOUNT, ticker="ES"))["matches"]
    assert [(m["ticker"], m["sec_type"]) for m in es] == [("/ES", "FUT")]
    assert payload(call(market, "search_symbol", account_id=ACCOUNT, ticker="zzzz"))["matches"] == []
