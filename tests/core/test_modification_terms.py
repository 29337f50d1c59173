"""The modification's terms: parsed once, merged into the order's terms, and recognised in a broker report."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderStatus, parse_order_request
from brokers.records import BrokerOrder
from db.models import TradeModification
from services.modification_settle import shows_new_terms
from services.modification_terms import modified_request, parse_modification_terms, terms_of

D = Decimal


def test_terms_are_parsed_once_with_every_problem_named() -> None:
    terms = parse_modification_terms(quantity="12", limit_price=186.5)
    assert terms.given() == {"quantity": D(12), "limit_price": D("186.5")}
    with pytest.raises(TradeError) as caught:
        parse_modification_terms(quantity=True, limit_price="-1", stop_price="abc")
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert [p["field"] for p in caught.value.details["problems"]] == ["quantity", "limit_price", "stop_price"]
    with pytest.raises(TradeError) as nothing:
        parse_modification_terms()
    assert "at least one" in nothing.value.message


def test_a_new_trailing_percent_replaces_the_amount_and_other_terms_stay() -> None:
    trailing = parse_order_request(account_id="DU1", ticker="AAPL", side="SELL", quantity="5",
                                   order_type="TrailingStop", trailing_amount="2", time_in_force="GTC")
    changed = modified_request(trailing, parse_modification_terms(trailing_percent="1.5"))
    assert (changed.trailing_amount, changed.trailing_percent) == (None, D("1.5"))
    kept = (changed.side.value, changed.order_type.value, changed.time_in_force.value)
    assert kept == ("SELL", "TrailingStop", "GTC")
    market = parse_order_request(account_id="DU1", ticker="AAPL", side="BUY", quantity="5")
    with pytest.raises(TradeError) as caught:
        modified_request(market, parse_modification_terms(limit_price="10"))
    assert "limit_price" in caught.value.message


def _modification(old: dict[str, str | None], new: dict[str, str | None]) -> TradeModification:
    return TradeModification(old_terms=old, new_terms=new)


def test_a_report_settles_only_what_it_shows() -> None:
    limit = parse_order_request(account_id="DU1", ticker="AAPL", side="BUY", quantity="10", order_type="Limit",
                                limit_price="185")
    old = terms_of(limit)
    report = BrokerOrder(account_id="DU1", brokerage_order_id="7", status=OrderStatus.ACCEPTED,
                         quantity=D(10), limit_price=D("186"))
    assert shows_new_terms(_modification(old, {**old, "limit_price": "186"}), report)
    assert not shows_new_terms(_modification(old, {**old, "limit_price": "187"}), report)
    assert not shows_new_terms(_modification(old, {**old, "limit_price": "186", "quantity": "12"}), report)
    trailing_only = {**old, "trailing_percent": "1"}  # no report carries it: never settled from a report
    assert not shows_new_terms(_modification(old, trailing_only), report)
