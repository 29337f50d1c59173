"""Pre-trade checks block, with a code, and write no preview; bad input never raises anything else."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderType, parse_order_request
from db.models import TradeEvent, TradeOrder, TradePreview
from services.trade_execution import TradeExecutionService
from tests.core.conftest import ServiceFactory
from tests.support.memory_broker import MemoryBroker


def rows(factory: sessionmaker[Session], model: type) -> int:
    with factory() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.mark.parametrize(
    ("limits", "args", "code", "fragment"),
    [
        ({"MAX_ORDER_QUANTITY": "10"}, ("DU111", "AAPL", "BUY", 11), ErrorCode.RISK_LIMIT, "MAX_ORDER_QUANTITY"),
        ({"MAX_ORDER_NOTIONAL": "1000"}, ("DU111", "AAPL", "BUY", 6), ErrorCode.RISK_LIMIT, "MAX_ORDER_NOTIONAL"),
        ({"PRICE_BAND_PCT": "5"}, ("DU111", "AAPL", "BUY", 1, "Limit", "150"), ErrorCode.RISK_LIMIT,
         "PRICE_BAND_PCT"),
        ({}, ("DU111", "AAPL", "BUY", 600), ErrorCode.INSUFFICIENT_FUNDS, "buying power"),
        ({}, ("DU111", "AAPL", "SELL", 51), ErrorCode.INSUFFICIENT_POSITION, "holds 50"),
        ({}, ("DU111", "MSFT", "SELL", 1), ErrorCode.INSUFFICIENT_POSITION, "holds 0"),
        ({"MAX_POSITION_WEIGHT": "0.10"}, ("DU111", "AAPL", "BUY", 10), ErrorCode.RISK_LIMIT,
         "MAX_POSITION_WEIGHT"),
        ({}, ("DU999", "AAPL", "BUY", 1), ErrorCode.ACCOUNT_NOT_FOUND, "DU999"),
        ({}, ("DU111", "ZZZZ", "BUY", 1), ErrorCode.SYMBOL_NOT_FOUND, "ZZZZ"),
    ],
)
def test_each_check_blocks_with_its_code(
    make_service: ServiceFactory, session_factory: sessionmaker[Session],
    limits: dict[str, str], args: tuple[Any, ...], code: ErrorCode, fragment: str,
) -> None:
    service = make_service(**limits)
    with pytest.raises(TradeError) as err:
        service.preview_trade(*args)
    assert err.value.code is code and fragment in err.value.message
    assert rows(session_factory, TradePreview) == 0
    assert rows(session_factory, TradeEvent) == 1  # the refusal itself is audited


def test_within_limits_the_preview_stores_the_risk_impact(make_service: ServiceFactory) -> None:
    service = make_service(MAX_ORDER_QUANTITY="100", MAX_ORDER_NOTIONAL="5000", PRICE_BAND_PCT="5",
                           MAX_POSITION_WEIGHT="0.5")
    preview = service.preview_trade("DU111", "AAPL", "SELL", 10, "Limit", "188", None, "GTC")
    # 50 AAPL at 190 = 9500 of an account worth 109500; selling 10 at 188 leaves 7620
    assert Decimal(preview.impact["position_weight_before"]) == Decimal(9500) / Decimal(109500)
    assert Decimal(preview.impact["position_weight_after"]) == Decimal(7620) / Decimal(109500)
    assert preview.estimated_total == Decimal("1879.00")
    assert preview.impact["checks_passed"] == [  # a SELL needs no buying power, so that check did not run
        "max_quantity", "price_band", "max_notional", "position_held", "position_weight"
    ]


def test_a_sell_that_reduces_an_overweight_position_is_allowed(make_service: ServiceFactory) -> None:
    service = make_service(MAX_POSITION_WEIGHT="0.01")
    assert service.preview_trade("DU111", "AAPL", "SELL", 1).status == "ACTIVE"


def test_two_adapters_claiming_one_account_is_an_error(
    make_service: ServiceFactory, broker: MemoryBroker
) -> None:
    from brokers.models import BrokerProvider

    other = MemoryBroker(BrokerProvider.SNAPTRADE)
    other.add_account("DU111")
    service = make_service(adapters=[broker, other])
    with pytest.raises(TradeError) as err:
        service.preview_trade("DU111", "AAPL", "BUY", 1)
    assert err.value.code is ErrorCode.AMBIGUOUS_ACCOUNT


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"order_type": "Limit"}, "limit_price is required"),
        ({"order_type": "Market", "limit_price": 10}, "limit_price is not allowed"),
        ({"order_type": "Stop"}, "stop_price is required"),
        ({"order_type": "StopLimit", "stop_price": 10}, "limit_price is required"),
        ({"quantity": 0}, "greater than zero"),
        ({"quantity": -1}, "greater than zero"),
        ({"quantity": float("nan")}, "finite"),
        ({"quantity": "1e400"}, "too large"),
        ({"quantity": "0.000000001"}, "decimal places"),
        ({"quantity": True}, "boolean"),
        ({"side": "HOLD"}, "side"),
        ({"ticker": "AAPL; DROP TABLE"}, "ticker"),
        ({"time_in_force": "GTD"}, "time_in_force"),
    ],
)
def test_request_validation_at_the_edge(fields: dict[str, Any], problem: str) -> None:
    base: dict[str, Any] = {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": 1}
    with pytest.raises(TradeError) as err:
        parse_order_request(**{**base, **fields})
    assert err.value.code is ErrorCode.VALIDATION_ERROR and problem in err.value.message


def test_enums_are_accepted_in_any_case() -> None:
    order = parse_order_request(account_id="DU1", ticker="spy", side="sell", quantity="2.5",
                                order_type="stoplimit", limit_price=1.1, stop_price="1.2", time_in_force="gtc")
    assert (order.side.value, order.order_type, order.time_in_force.value) == ("SELL", OrderType.STOP_LIMIT, "GTC")
    assert order.limit_price == Decimal("1.1") and order.quantity == Decimal("2.5")


junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.decimals(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["BUY", "SELL", "Market", "Limit", "Stop", "StopLimit", "Day", "GTC", "IOC", "FOK",
                     "DU111", "AAPL", "' OR 1=1 --", "AAPL\x00", "\uff11\uff12\uff13", "1e9999", "-0", "NaN"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(account=junk, ticker=junk, side=junk, quantity=junk, order_type=junk, limit=junk, stop=junk, tif=junk)
def test_bad_input_always_gives_a_structured_error_and_no_order(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session],
    account: Any, ticker: Any, side: Any, quantity: Any, order_type: Any, limit: Any, stop: Any, tif: Any,
) -> None:
    try:
        preview = service.preview_trade(account, ticker, side, quantity, order_type, limit, stop, tif)
    except TradeError as exc:
        assert exc.code in ErrorCode and exc.message
        return
    # the rare valid combination must be a coherent, positive, finite order
    assert preview.quantity > 0 and math.isfinite(preview.quantity)
    assert rows(session_factory, TradeOrder) == 0 and broker.place_calls == 0
