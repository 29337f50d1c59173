"""An order priced in another currency than the account's (VOD on LSE in GBP, a USD account): MAX_ORDER_NOTIONAL
and position weights compare the amount converted at the broker's exchange rate, and no rate is a refusal.

Through the service, the real ib_async and the simulated gateway. VOD is 72.00 GBP; the account's GBP ledger
(its summary's ExchangeRate) says 1.27 USD per GBP, so 100 VOD is GBP 7,200 and USD 9,144.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import TradeEvent, TradePreview
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import gbp_ledger

ACCOUNT = "DU1234567"
D = Decimal
VOD = {"exchange": "LSE", "currency": "GBP"}


def test_no_exchange_rate_is_refused_naming_the_rate(
    limited: Any, session_factory: sessionmaker[Session],
) -> None:
    service = limited(MAX_ORDER_NOTIONAL=D(1_000_000))
    with pytest.raises(TradeError) as refused:
        service.preview_trade(ACCOUNT, "VOD", "BUY", 10, **VOD)
    assert refused.value.code is ErrorCode.RISK_LIMIT
    assert "no GBP to USD exchange rate is known" in refused.value.message
    assert refused.value.details["missing_rate"] == "GBP/USD"
    with session_factory() as session:
        assert session.execute(select(TradePreview)).first() is None
        events = session.execute(select(TradeEvent.event_type, TradeEvent.error_code)).all()
    assert [tuple(e) for e in events] == [("PREVIEW_REFUSED", "RISK_LIMIT")]


def test_max_order_notional_compares_the_converted_amount_and_the_preview_shows_it(
    sim: IBGatewaySimulator, limited: Any,
) -> None:
    service = limited(MAX_ORDER_NOTIONAL=D(8000))  # above GBP 7,200, below USD 9,144
    gbp_ledger(sim, service)
    with pytest.raises(TradeError) as refused:
        service.preview_trade(ACCOUNT, "VOD", "BUY", 100, **VOD)
    assert refused.value.code is ErrorCode.RISK_LIMIT and "MAX_ORDER_NOTIONAL" in refused.value.message
    assert D(refused.value.details["notional"]) == D("9144")

    fits = service.preview_trade(ACCOUNT, "VOD", "BUY", 80, **VOD)  # GBP 5,760 = USD 7,315.20
    assert fits.currency == "GBP" and fits.conversion is not None
    assert fits.conversion["exchange_rate"] == "1.27" and fits.conversion["account_currency"] == "USD"
    assert D(fits.conversion["estimated_total_in_account_currency"]) == D(str(fits.estimated_total)) * D("1.27")
    assert any("1.27 USD per GBP" in w and "est. USD" in w for w in fits.warnings)
    assert service.execute_trade(fits.preview_id).status in ("ACCEPTED", "EXECUTED")


def test_position_weights_use_the_converted_amount(sim: IBGatewaySimulator, limited: Any) -> None:
    service = limited(MAX_POSITION_WEIGHT=D("0.01"))  # about USD 10,000 of a USD 1,001,270 account
    gbp_ledger(sim, service)
    with pytest.raises(TradeError) as refused:
        service.preview_trade(ACCOUNT, "VOD", "BUY", 120, **VOD)  # GBP 8,640 (0.86%) but USD 10,972.80 (1.1%)
    assert refused.value.code is ErrorCode.RISK_LIMIT and "MAX_POSITION_WEIGHT" in refused.value.message
    ok = service.preview_trade(ACCOUNT, "VOD", "BUY", 50, **VOD)
    assert ok.post_trade_weight is not None
    assert abs(D(str(ok.post_trade_weight)) - D(50 * 72) * D("1.27") / D("1001270")) < D("0.0001")


def test_without_a_limit_to_check_no_rate_only_leaves_the_weights_out(limited: Any) -> None:
    preview = limited().preview_trade(ACCOUNT, "VOD", "BUY", 10, **VOD)
    assert preview.conversion == {"exchange_rate": None, "account_currency": "USD",
                                  "estimated_total_in_account_currency": None}
    assert preview.post_trade_weight is None
    assert any("no GBP to USD exchange rate is known" in w for w in preview.warnings)


def test_an_order_in_the_accounts_currency_needs_no_rate(limited: Any) -> None:
    preview = limited(MAX_ORDER_NOTIONAL=D(1_000_000)).preview_trade(ACCOUNT, "AAPL", "BUY", 10)
    assert preview.conversion is None and "max_notional" in preview.validation.checks_passed
