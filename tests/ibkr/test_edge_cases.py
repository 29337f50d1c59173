"""Cases the simulator cannot produce, on ib_async's own objects: no market-data subscription,
an unset commission, ib_async's pseudo-statuses, and orders known only by their executions."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

from ib_async import (
    CommissionReport,
    Contract,
    ContractDetails,
    Execution,
    Fill,
    Order,
    OrderState,
    RequestError,
    Ticker,
    Trade,
)
from ib_async import OrderStatus as IBOrderStatus
from ib_async.objects import TradeLogEntry

from brokers.ibkr.contracts import ContractResolver
from brokers.ibkr.operations import IBKROperations
from brokers.ibkr.orders import broker_order, effective_status, order_from_fills
from brokers.models import OrderRequest, OrderStatus

UNSET = 1.7976931348623157e308
NOW = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)
AAPL = Contract(conId=265598, symbol="AAPL", secType="STK", exchange="SMART", currency="USD", localSymbol="AAPL")


class NoSubscriptionIB:
    """Answers like a gateway for an account without a live AAPL subscription."""

    def __init__(self, commission: float = UNSET) -> None:
        self.market_data_type = 1
        self.commission = commission
        self.types_requested: list[int] = []

    def managedAccounts(self) -> list[str]:
        return ["DU1234567"]

    async def reqContractDetailsAsync(self, _contract: Contract) -> list[ContractDetails]:
        return [ContractDetails(contract=AAPL, longName="APPLE INC", minTick=0.01)]

    def whatIfOrderAsync(self, _contract: Contract, _order: Order) -> Any:
        async def answer() -> OrderState:
            return OrderState(status="PreSubmitted", initMarginBefore="0", initMarginChange="950.0",
                              initMarginAfter="950.0", equityWithLoanBefore="1000000",
                              equityWithLoanChange="0", equityWithLoanAfter="1000000", commission=self.commission)
        return answer()

    def reqMarketDataType(self, kind: int) -> None:
        self.types_requested.append(kind)
        self.market_data_type = kind

    async def reqTickersAsync(self, contract: Contract) -> list[Ticker]:
        if self.market_data_type == 1:
            raise RequestError(7, 354, "Requested market data is not subscribed.")
        ticker = Ticker(contract=contract, marketDataType=3)
        ticker.bid, ticker.ask, ticker.last, ticker.close = 189.5, 190.5, 190.0, 188.0  # __post_init__ blanks them
        return [ticker]

    def ticker(self, _contract: Contract) -> Ticker | None:
        return None


def _ops() -> IBKROperations:
    return IBKROperations(lambda account: account.startswith("DU"), ContractResolver(), snapshot_timeout=1.0)


def test_no_subscription_falls_back_to_delayed_data_and_unset_commission_is_none() -> None:
    ib = NoSubscriptionIB()
    order = OrderRequest(account_id="DU1234567", ticker="AAPL", side="BUY", quantity=Decimal(5))
    preview = asyncio.run(_ops().preview(ib, order))  # type: ignore[arg-type]
    assert preview.quote is not None and preview.quote.delayed and preview.quote.last == Decimal("190")
    assert preview.estimated_price == Decimal("190")
    assert ib.types_requested == [3, 1]  # delayed for this snapshot only, then back to live
    assert preview.estimated_commission is None
    assert any("commission" in w for w in preview.warnings) and any("delayed" in w for w in preview.warnings)
    assert preview.margin_impact["init_margin_change"] == Decimal("950.0")
    assert preview.margin_impact["maint_margin_after"] is None  # unset in the whatIf answer
    assert preview.raw["market_data"] == "delayed" and preview.raw["what_if"]["commission"] is None


def _trade(status: str, log: list[TradeLogEntry], filled: float = 0.0, remaining: float = 10.0) -> Trade:
    order = Order(orderId=5, clientId=17, permId=1001, action="BUY", totalQuantity=10.0, orderType="LMT",
                  lmtPrice=185.0, account="DU1234567", orderRef="ref-x")
    order_status = IBOrderStatus(orderId=5, status=status, filled=filled, remaining=remaining, permId=1001)
    return Trade(AAPL, order, order_status, [], log)


def test_ib_async_pseudo_statuses_do_not_leak() -> None:
    warned = _trade("ValidationError",
                    [TradeLogEntry(NOW, "Submitted"), TradeLogEntry(NOW, "ValidationError", "", 399)])
    assert effective_status(warned) == "Submitted" and broker_order(warned).status is OrderStatus.ACCEPTED
    # ib_async marks an order Cancelled when IB refuses a *cancel* (10148); the order is unchanged
    refused = _trade("Cancelled", [TradeLogEntry(NOW, "Submitted"), TradeLogEntry(NOW, "Cancelled", "no", 10148)])
    assert broker_order(refused).status is OrderStatus.ACCEPTED
    rejected = _trade("Cancelled", [TradeLogEntry(NOW, "PendingSubmit"),
                                    TradeLogEntry(NOW, "Cancelled", "Order rejected - reason: x", 201)])
    update = broker_order(rejected)
    assert update.status is OrderStatus.REJECTED and update.message == "Order rejected - reason: x"
    held = _trade("Inactive", [TradeLogEntry(NOW, "Inactive")])
    held.orderStatus.whyHeld = "locate"
    assert broker_order(held).status is OrderStatus.PENDING
    partial = _trade("Submitted", [TradeLogEntry(NOW, "Submitted")], filled=4.0, remaining=6.0)
    assert broker_order(partial).status is OrderStatus.PARTIAL


def _fill(shares: float, price: float, exec_id: str) -> Fill:
    execution = Execution(execId=exec_id, time=NOW, acctNumber="DU1234567", shares=shares, price=price,
                          permId=1001, clientId=17, orderId=5, orderRef="ref-x")
    return Fill(AAPL, execution, CommissionReport(execId=exec_id, commission=0.5, currency="USD"), NOW)


def test_an_order_known_only_by_its_executions() -> None:
    request = OrderRequest(account_id="DU1234567", ticker="AAPL", side="BUY", quantity=Decimal(10))
    found = order_from_fills([_fill(4, 190.0, "e1"), _fill(6, 191.0, "e2")], request, "DU1234567")
    assert found.status is OrderStatus.EXECUTED and found.filled_quantity == 10
    assert found.average_fill_price == Decimal("190.6") and found.commission == Decimal("1.0")
    assert found.brokerage_order_id == "1001" and found.client_order_ref == "ref-x"
    partial = order_from_fills([_fill(4, 190.0, "e1")], request, "DU1234567")
    assert partial.status is OrderStatus.PARTIAL and partial.remaining_quantity == 6


def test_completed_order_gets_fill_details_from_executions() -> None:
    completed = _trade("Filled", [], filled=0.0, remaining=0.0)
    completed.order.orderId = 0  # IB sends completed orders without an orderId
    completed.order.filledQuantity = 10.0
    update = broker_order(completed, [_fill(10, 190.0, "e1")])
    assert update.status is OrderStatus.EXECUTED and update.filled_quantity == 10
    assert update.average_fill_price == Decimal("190") and update.raw["order_id"] == 5
    assert update.remaining_quantity == 0
