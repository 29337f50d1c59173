"""A modification of an order priced in another currency than the account's (VOD on LSE in GBP, a USD account)
is held to MAX_ORDER_NOTIONAL on the converted amount, as its preview was, bracket exit legs included.

Through the service, the real ib_async and the simulated gateway. VOD is 72.00 GBP; the account's GBP ledger
(its summary's ExchangeRate) says 1.27 USD per GBP.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import TradeEvent
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import gbp_ledger

ACCOUNT = "DU1234567"
D = Decimal
VOD = {"exchange": "LSE", "currency": "GBP"}


@pytest.fixture(autouse=True)
def resting_orders(sim: IBGatewaySimulator) -> None:
    sim.auto_fill = False  # every order rests at the gateway: working orders to modify


def _vod_bracket(service: TradeExecutionService) -> dict[str, str]:
    """A working BUY bracket of 80 VOD: entry Limit 72, take-profit 74, stop-loss 70 (GBP); ids by role."""
    preview = service.preview_trade(ACCOUNT, "VOD", "BUY", 80, order_type="Limit", limit_price="72",
                                    take_profit_price="74", stop_loss_price="70", **VOD)
    placed = service.execute_trade(preview.preview_id)
    assert placed.status == "ACCEPTED"
    return dict(zip(placed.order_roles or [], placed.order_ids or [], strict=True))


def _refusals(session_factory: sessionmaker[Session]) -> list[str | None]:
    with session_factory() as session:
        return list(session.execute(select(TradeEvent.error_code).where(
            TradeEvent.event_type == "MODIFICATION_REFUSED").order_by(TradeEvent.id)).scalars())


def test_a_modified_vod_order_compares_the_converted_amount(
    sim: IBGatewaySimulator, limited: Any, session_factory: sessionmaker[Session],
) -> None:
    service = limited(MAX_ORDER_NOTIONAL=D(8000))  # above GBP 7,200, below USD 9,144
    gbp_ledger(sim, service)
    order = service.execute_trade(service.preview_trade(
        ACCOUNT, "VOD", "BUY", 80, order_type="Limit", limit_price="72", **VOD).preview_id)
    with pytest.raises(TradeError) as refused:
        service.preview_modification(order.order_id, quantity="100")  # GBP 7,200 = USD 9,144
    assert refused.value.code is ErrorCode.RISK_LIMIT and "MAX_ORDER_NOTIONAL" in refused.value.message
    assert D(refused.value.details["notional"]) == D("9144")
    assert _refusals(session_factory) == ["RISK_LIMIT"]


def test_raising_a_vod_brackets_exit_compares_the_converted_amount(
    sim: IBGatewaySimulator, limited: Any, session_factory: sessionmaker[Session],
) -> None:
    service = limited(MAX_ORDER_NOTIONAL=D(8000))
    gbp_ledger(sim, service)
    legs = _vod_bracket(service)  # entry GBP 5,760 = USD 7,315.20

    with pytest.raises(TradeError) as refused:  # GBP 6,400 fits the limit, USD 8,128 does not
        service.preview_modification(legs["take_profit"], limit_price="80")
    assert refused.value.code is ErrorCode.RISK_LIMIT and "MAX_ORDER_NOTIONAL" in refused.value.message
    assert D(refused.value.details["notional"]) == D("8128")
    assert _refusals(session_factory) == ["RISK_LIMIT"]

    fits = service.preview_modification(legs["take_profit"], limit_price="76")  # USD 7,721.60
    assert any("1.27 USD per GBP" in w for w in fits.warnings)
    assert service.execute_modification(fits.modification_id).status == "APPLIED"
    assert sim.modification_count == 1


def test_an_exit_of_a_set_previewed_without_a_rate_is_refused_once_a_limit_needs_one(
    limited: Any, session_factory: sessionmaker[Session],
) -> None:
    legs = _vod_bracket(limited())  # no limit, no GBP ledger: previewed without a rate
    with pytest.raises(TradeError) as refused:
        limited(MAX_ORDER_NOTIONAL=D(1_000_000)).preview_modification(legs["stop_loss"], stop_price="69")
    assert refused.value.code is ErrorCode.RISK_LIMIT
    assert "no GBP to USD exchange rate is known" in refused.value.message
    assert refused.value.details["missing_rate"] == "GBP/USD"
    assert _refusals(session_factory) == ["RISK_LIMIT"]
