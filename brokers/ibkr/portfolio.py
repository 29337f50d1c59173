"""Balances and positions, from the subscriptions ib_async keeps live.

The account summary is subscribed once per connection and updated by the gateway, so a
preview costs no extra round trip for it; after a trade a one-off summary request refreshes
the values at once instead of waiting for IB's next push. Positions arrive the same way
(reqPositions at connect), with market prices from the portfolio updates when IB sends them.
"""

from __future__ import annotations

from decimal import Decimal

from ib_async import IB, AccountValue

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.decimals import to_decimal, to_price
from brokers.records import AccountBalance, Position

SUMMARY_TAGS = "NetLiquidation,TotalCashValue,AvailableFunds,BuyingPower,EquityWithLoanValue"
_BALANCE_TAGS = {
    "NetLiquidation": "net_liquidation",
    "AvailableFunds": "available_funds",
    "BuyingPower": "buying_power",
    "TotalCashValue": "cash",
}


async def summary_values(ib: IB, account_id: str, what: str) -> list[AccountValue]:
    """The account's summary tags; ACCOUNT_NOT_FOUND when the gateway reports none (`what`: for the message)."""
    values = await ib.accountSummaryAsync(account_id)
    if not values:
        raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, f"IB Gateway reports no {what} for account {account_id}",
                         {"account_id": account_id})
    return list(values)


async def account_balance(ib: IB, account_id: str) -> AccountBalance:
    return balance_from(await summary_values(ib, account_id, "balances"), account_id)


def balance_from(values: list[AccountValue], account_id: str) -> AccountBalance:
    fields: dict[str, Decimal | None] = {}
    currency = "USD"
    rates: dict[str, Decimal] = {}
    for value in values:
        rate = to_decimal(value.value) if value.tag == "ExchangeRate" and len(value.currency) == 3 else None
        if rate is not None and rate > 0:  # "BASE" rows are not a currency
            rates[value.currency] = rate  # IB: base currency per unit of the ledger's currency
        name = _BALANCE_TAGS.get(value.tag)
        if name is None or value.currency in ("", "BASE"):
            continue
        fields[name] = to_decimal(value.value)
        currency = value.currency
    return AccountBalance(account_id=account_id, currency=currency, exchange_rates=rates, **fields)


async def refresh_summary(ib: IB) -> None:
    """One summary request, cancelled once answered: it updates the cached values in place."""
    if not ib.wrapper.acctSummary:
        await ib.reqAccountSummaryAsync()  # nothing subscribed yet: subscribe instead
        return
    req_id = ib.client.getReqId()
    answered = ib.wrapper.startReq(req_id)
    ib.client.reqAccountSummary(req_id, "All", SUMMARY_TAGS)
    try:
        await answered
    finally:
        if ib.client.isConnected():
            ib.client.cancelAccountSummary(req_id)


def positions(ib: IB, account_id: str) -> list[Position]:
    prices = {item.contract.conId: item for item in ib.portfolio(account_id)}
    result: list[Position] = []
    for held in ib.positions(account_id):
        quantity = to_decimal(held.position)
        if not quantity:
            continue
        contract = held.contract
        multiplier = to_decimal(contract.multiplier) or Decimal(1)
        item = prices.get(contract.conId)
        average = to_decimal(held.avgCost)
        derivative = contract.secType in ("FUT", "OPT", "FOP")
        result.append(
            Position(
                account_id=account_id,
                ticker=(contract.localSymbol if derivative and contract.localSymbol else contract.symbol),
                quantity=quantity,
                broker_symbol_id=str(contract.conId),
                average_cost=average / multiplier if average is not None else None,
                market_price=to_price(item.marketPrice) if item else None,
                market_value=to_decimal(item.marketValue) if item else None,
                currency=contract.currency or "USD",
            )
        )
    return result
