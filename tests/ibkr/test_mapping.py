"""Pure tables and conversions: status mapping, IB sentinels, ticker notation, backoff."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.contracts import ContractSpec, parse_ticker
from brokers.ibkr.decimals import to_decimal, to_price
from brokers.ibkr.lifecycle import Backoff
from brokers.ibkr.status import IB_ORDER_STATUS, common_status, is_rejection
from brokers.models import OrderStatus

D = Decimal


@pytest.mark.parametrize(
    ("ib_status", "filled", "remaining", "why_held", "expected"),
    [
        ("PendingSubmit", D(0), D(10), "", OrderStatus.PENDING),
        ("PreSubmitted", D(0), D(10), "", OrderStatus.PENDING),
        ("ApiPending", D(0), D(10), "", OrderStatus.PENDING),
        ("Submitted", D(0), D(10), "", OrderStatus.ACCEPTED),
        ("Submitted", D(4), D(6), "", OrderStatus.PARTIAL),
        ("PendingCancel", D(0), D(10), "", OrderStatus.ACCEPTED),
        ("PendingCancel", D(4), D(6), "", OrderStatus.PARTIAL),
        ("Filled", D(10), D(0), "", OrderStatus.EXECUTED),
        ("Cancelled", D(0), D(10), "", OrderStatus.CANCELED),
        ("Cancelled", D(4), D(6), "", OrderStatus.CANCELED),
        ("ApiCancelled", D(0), D(10), "", OrderStatus.CANCELED),
        ("Inactive", D(0), D(10), "", OrderStatus.PENDING),  # REJECTED only with a rejection code
        ("Inactive", D(0), D(10), "locate", OrderStatus.PENDING),
        ("SomethingNew", D(0), D(10), "", OrderStatus.UNKNOWN),
    ],
)
def test_status_table(ib_status: str, filled: Decimal, remaining: Decimal, why_held: str,
                      expected: OrderStatus) -> None:
    assert common_status(ib_status, filled, remaining, why_held) is expected


def test_a_refused_order_is_rejected_not_canceled() -> None:
    assert common_status("Cancelled", D(0), D(10), rejected=True) is OrderStatus.REJECTED
    assert common_status("Cancelled", D(3), D(7), rejected=True) is OrderStatus.CANCELED  # it did trade


def test_every_mapped_status_is_a_broker_status() -> None:
    assert not {OrderStatus.SUBMITTING, OrderStatus.UNKNOWN, OrderStatus.SIMULATED} & set(IB_ORDER_STATUS.values())


def test_error_code_classes() -> None:
    assert is_rejection(201) and is_rejection(203) and is_rejection(110)
    assert not is_rejection(202)  # cancel confirmation
    assert not is_rejection(2104) and not is_rejection(399) and not is_rejection(0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (190.01, D("190.01")), (10.0, D(10)), (1.7976931348623157e308, None), (float("nan"), None),
        ("1.7976931348623157E308", None), ("", None), ("950.00", D("950.00")), (2**31 - 1, None),
        (None, None), ("abc", None),
    ],
)
def test_to_decimal_turns_ib_sentinels_into_none(raw: object, expected: Decimal | None) -> None:
    assert to_decimal(raw) == expected  # type: ignore[arg-type]


def test_no_quote_prices_are_none() -> None:
    assert to_price(-1.0) is None and to_price(0.0) is None and to_price(1.5) == D("1.5")


@pytest.mark.parametrize(
    ("ticker", "spec"),
    [
        ("AAPL", ContractSpec("STK", "AAPL")),
        ("aapl", ContractSpec("STK", "AAPL")),
        ("BRK.B", ContractSpec("STK", "BRK B")),
        ("/MES", ContractSpec("FUT", "MES", exchange="CME")),
        ("ES", ContractSpec("STK", "ES")),
        ("MES", ContractSpec("STK", "MES")),
        ("/ZS", ContractSpec("FUT", "ZS", exchange="")),
        ("ES 202612", ContractSpec("FUT", "ES", exchange="CME", expiry="202612")),
        ("SPX", ContractSpec("IND", "SPX", exchange="CBOE")),
        ("SPY 20261218 500 C", ContractSpec("OPT", "SPY", expiry="20261218", strike=D(500), right="C")),
        ("SPY 20261218 497.5 PUT", ContractSpec("OPT", "SPY", expiry="20261218", strike=D("497.5"), right="P")),
        ("SPY   261218C00500000", ContractSpec("OPT", "SPY", expiry="20261218", strike=D(500), right="C")),
        ("SPY261218P00497500", ContractSpec("OPT", "SPY", expiry="20261218", strike=D("497.5"), right="P")),
    ],
)
def test_ticker_notation(ticker: str, spec: ContractSpec) -> None:
    assert parse_ticker(ticker) == spec


def test_unparseable_ticker_is_symbol_not_found() -> None:
    with pytest.raises(TradeError) as caught:
        parse_ticker("AAPL:NASDAQ:X")
    assert caught.value.code is ErrorCode.SYMBOL_NOT_FOUND


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, jitter=0.25)
    assert [round(Backoff(initial=1.0, maximum=8.0, jitter=0).delay(n), 3) for n in range(6)] == [1, 2, 4, 8, 8, 8]
    delays = {backoff.delay(2) for _ in range(50)}
    assert all(3.0 <= d <= 5.0 for d in delays) and len(delays) > 1
    assert all(backoff.delay(n) <= 8.0 for n in range(100))
