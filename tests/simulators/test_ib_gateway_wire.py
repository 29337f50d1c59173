"""Field layouts checked against ib_async's own encoder and decoder at every version step."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from ib_async import LimitOrder, MarketOrder, Option, Order, Stock, StopLimitOrder, TagValue
from ib_async.client import Client
from ib_async.decoder import Decoder

from simulators.ib_gateway import encode
from simulators.ib_gateway.accounts import Account
from simulators.ib_gateway.instruments import InstrumentBook
from simulators.ib_gateway.orders import ExecutionRecord, OrderRecord, parse_place_order
from simulators.ib_gateway.wire import fmt_decimal, frame, parse_version_range, split_frames

VERSIONS = [157, 158, 159, 160, 162, 163, 164, 166, 169, 170, 173, 176, 177, 178]


class Recorder:
    """Stands in for ib_async's Wrapper: records every callback the decoder makes."""

    defaultTimezone = dt.UTC

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def method(*args: Any) -> None:
            self.calls.append((name, args))

        return method


def decode(version: int, fields: list[str]) -> tuple[str, tuple[Any, ...]]:
    recorder = Recorder()
    Decoder(recorder, version).interpret(list(fields))  # type: ignore[arg-type]
    assert len(recorder.calls) == 1, f"decoder rejected {fields[:3]}... at v{version}"
    return recorder.calls[0]


def client_fields(version: int, order_id: int, contract: Any, order: Order) -> list[str]:
    client = Client(Recorder())
    client._serverVersion = version
    client.connState = Client.CONNECTED
    sent: list[str] = []
    client.sendMsg = sent.append  # type: ignore[method-assign]
    client.placeOrder(order_id, contract, order)
    return sent[0].split("\0")[:-1]


@pytest.fixture(scope="module")
def book() -> InstrumentBook:
    return InstrumentBook(dt.date(2025, 1, 15))


def make_order(book: InstrumentBook, status: str = "Submitted") -> OrderRecord:
    return OrderRecord(
        order_id=7, client_id=3, perm_id=123456, account="DU1", instrument=book.lookup("AAPL"),
        action="BUY", quantity=Decimal(100), order_type="LMT", lmt_price=Decimal("189.5"),
        aux_price=None, tif="GTC", order_ref="ref-7", status=status, filled=Decimal(40),
        avg_fill_price=Decimal("189.5"), commission=Decimal("1.00"),
    )


def test_framing_round_trip() -> None:
    data = bytearray(frame(["9", "1", "42"]) + frame(["15", "1", "DU1,DU2"]) + frame(["49"])[:-2])
    assert split_frames(data) == [["9", "1", "42"], ["15", "1", "DU1,DU2"]]
    assert len(data) == len(frame(["49"])) - 2  # the partial message waits for more bytes
    assert parse_version_range("v157..178 +PACEAPI") == (157, 178)
    assert fmt_decimal(Decimal("190.10")) == "190.1"
    assert fmt_decimal(Decimal("1E+2")) == "100"


@pytest.mark.parametrize("version", VERSIONS)
def test_place_order_parses_what_ib_async_sends(version: int) -> None:
    stock = Stock("AAPL", "SMART", "USD")
    lmt = LimitOrder("SELL", 25, 190.25, orderRef="abc", account="DU9", tif="GTC", outsideRth=True)
    req = parse_place_order(client_fields(version, 11, stock, lmt), version)
    assert (req.order_id, req.action, req.quantity, req.order_type) == (11, "SELL", 25, "LMT")
    assert (req.lmt_price, req.aux_price, req.tif, req.account) == (Decimal("190.25"), None, "GTC", "DU9")
    assert (req.order_ref, req.outside_rth, req.what_if, req.contract.symbol) == ("abc", True, False, "AAPL")

    what_if = MarketOrder("BUY", 3)
    what_if.whatIf = True
    what_if.algoStrategy = "Adaptive"
    what_if.algoParams = [TagValue("adaptivePriority", "Normal")]
    req = parse_place_order(client_fields(version, 12, stock, what_if), version)
    assert req.what_if and req.order_type == "MKT" and req.lmt_price is None

    option = Option("SPY", "20250221", 500, "C", "SMART")
    stop_limit = StopLimitOrder("BUY", 2, 5.5, 5.25)
    req = parse_place_order(client_fields(version, 13, option, stop_limit), version)
    assert (req.order_type, req.lmt_price, req.aux_price) == ("STP LMT", Decimal("5.5"), Decimal("5.25"))
    assert (req.contract.strike, req.contract.right) == (Decimal(500), "C")


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_and_status_decode(version: int, book: InstrumentBook) -> None:
    order = make_order(book)
    name, (order_id, contract, decoded, state) = decode(version, encode.open_order(order, version))
    assert name == "openOrder" and order_id == 7 and contract.conId == 265598
    assert (decoded.clientId, decoded.permId, decoded.orderRef, decoded.totalQuantity) == (3, 123456, "ref-7", 100)
    assert (decoded.lmtPrice, decoded.tif, decoded.account, state.status) == (189.5, "GTC", "DU1", "Submitted")
    assert not decoded.whatIf

    name, args = decode(version, encode.order_status(order))
    assert name == "orderStatus" and args[:6] == (7, "Submitted", 40.0, 60.0, 189.5, 123456)
    assert args[8] == 3  # clientId


@pytest.mark.parametrize("version", VERSIONS)
def test_what_if_open_order_decodes(version: int, book: InstrumentBook) -> None:
    impact = encode.MarginImpact(
        Decimal(0), Decimal(0), Decimal(1000), Decimal(500), Decimal(250), Decimal(999), Decimal(1)
    )
    _, (_, _, decoded, state) = decode(version, encode.open_order(make_order(book), version, impact))
    assert decoded.whatIf and state.initMarginChange == "500.00" and state.equityWithLoanChange == "-1.00"
    assert state.commission == 1.0 and state.commissionCurrency == "USD"


@pytest.mark.parametrize("version", VERSIONS)
def test_completed_order_decodes(version: int, book: InstrumentBook) -> None:
    order = make_order(book, status="Filled")
    order.completed_at = 1_700_000_000.0
    _, (contract, decoded, state) = decode(version, encode.completed_order(order, version))
    assert contract.symbol == "AAPL" and decoded.permId == 123456 and decoded.orderRef == "ref-7"
    assert state.status == "Filled" and decoded.filledQuantity == 40.0 and state.completedTime.startswith("2023")


@pytest.mark.parametrize("version", VERSIONS)
def test_execution_and_commission_decode(version: int, book: InstrumentBook) -> None:
    order = make_order(book)
    execution = ExecutionRecord(
        "0001.0002.01.01", order, Decimal(40), Decimal("189.5"), 1_700_000_000.0, Decimal(40),
        Decimal("189.5"), Decimal("1.00"), None,
    )
    name, (req_id, contract, ex) = decode(version, encode.exec_details(version, -1, execution))
    assert name == "execDetails" and req_id == -1 and contract.conId == 265598
    assert (ex.execId, ex.side, ex.shares, ex.price, ex.permId, ex.clientId, ex.orderId, ex.orderRef) == (
        "0001.0002.01.01", "BOT", 40.0, 189.5, 123456, 3, 7, "ref-7",
    )
    assert ex.time == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    name, (report,) = decode(version, encode.commission_report(execution))
    assert name == "commissionReport" and report.execId == "0001.0002.01.01" and report.commission == 1.0


@pytest.mark.parametrize("version", VERSIONS)
def test_contract_details_decode_for_every_kind(version: int, book: InstrumentBook) -> None:
    for inst in book.instruments:
        name, (req_id, details) = decode(version, encode.contract_data(version, 5, inst, inst.exchange))
        assert name == "contractDetails" and req_id == 5
        c = details.contract
        assert (c.conId, c.symbol, c.secType, c.localSymbol) == (
            inst.con_id, inst.symbol, inst.sec_type, inst.local_symbol,
        )
        assert c.lastTradeDateOrContractMonth == inst.last_trade_date


@pytest.mark.parametrize("version", [157, 166, 178])
def test_account_and_market_messages_decode(version: int, book: InstrumentBook) -> None:
    account = Account("DU1", Decimal(1000))
    account.apply_fill(book.lookup("AAPL"), Decimal(10), Decimal("190"), Decimal(1))
    pos = account.positions[265598]
    assert decode(version, encode.position("DU1", pos))[0] == "position"
    assert decode(version, encode.portfolio("DU1", pos))[0] == "updatePortfolio"
    assert decode(version, encode.position_multi(4, "DU1", pos))[0] == "positionMulti"
    name, args = decode(version, encode.error(version, 3, 201, "Order rejected - reason:x"))
    assert name == "error" and args[:3] == (3, 201, "Order rejected - reason:x")
    for tick in encode.tick_prices(9, book.lookup("AAPL"), delayed=False):
        assert decode(version, tick)[0] == "priceSizeTick"
    name, (_, samples) = decode(version, encode.symbol_samples(version, 2, [book.lookup("SPY")]))
    assert name == "symbolSamples" and samples[0].contract.symbol == "SPY"
