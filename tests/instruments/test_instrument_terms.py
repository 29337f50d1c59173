"""The request side alone: the notations preview_trade's description promises, and that a bracket's
children keep the entry's instrument."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from brokers.bracket_rules import LegRole
from brokers.instruments import Instrument, SecType, parse_notation
from brokers.models import parse_order_request
from brokers.order_legs import leg_request

TODAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize(("ticker", "expected"), [
    ("AAPL", None), ("ES", None), ("VOD", None), ("SPX", None),
    ("/ES", Instrument(SecType.FUTURE, "ES")),
    ("/es 202612", Instrument(SecType.FUTURE, "ES", expiry="202612")),
    ("MES 202703", Instrument(SecType.FUTURE, "MES", expiry="202703")),
    ("/MESZ6", Instrument(SecType.FUTURE, "MES", expiry="202612")),
    ("/MESH7", Instrument(SecType.FUTURE, "MES", expiry="202703")),
    ("/ESH6", Instrument(SecType.FUTURE, "ES", expiry="203603")),  # March 2026 is over: the next year ending in 6
    ("/ESZ27", Instrument(SecType.FUTURE, "ES", expiry="202712")),
    ("SPY   261218C00600000", Instrument(SecType.OPTION, "SPY", expiry="20261218", strike=Decimal(600), right="C")),
    ("SPY261218P00597500", Instrument(SecType.OPTION, "SPY", expiry="20261218", strike=Decimal("597.5"), right="P")),
    ("SPY 20261218 600 CALL", Instrument(SecType.OPTION, "SPY", expiry="20261218", strike=Decimal(600), right="C")),
])
def test_the_documented_notations(ticker: str, expected: Instrument | None) -> None:
    assert parse_notation(ticker, TODAY) == expected


def test_a_brackets_children_trade_the_entrys_contract() -> None:
    entry = parse_order_request(account_id="DU1", ticker="MES", sec_type="FUT", expiry="202612", side="BUY",
                                quantity=1, order_type="Limit", limit_price="4990", take_profit_price="5100",
                                stop_loss_price="4900")
    for role in (LegRole.TAKE_PROFIT, LegRole.STOP_LOSS):
        child = leg_request(entry, role)
        assert child.instrument == entry.instrument and child.instrument.sec_type is SecType.FUTURE
