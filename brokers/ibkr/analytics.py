"""Account P&L (reqPnL / reqPnLSingle) and the account summary with per-currency ledgers.

P&L subscriptions are opened on first use and kept: IB pushes new figures as prices move, so
later calls read the live objects without a round trip. A reconnect clears ib_async's state,
and the next call subscribes again.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from ib_async import IB, AccountValue, PnL, PnLSingle

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.decimals import to_decimal
from brokers.ibkr.portfolio import summary_values
from brokers.market_models import AccountPnL, AccountSummary, CurrencySummary, PnLFigures, PositionPnL
from brokers.models import BrokerProvider

_SUMMARY_FIELDS = {
    "NetLiquidation": "net_liquidation", "TotalCashValue": "cash", "BuyingPower": "buying_power",
    "AvailableFunds": "available_funds", "ExcessLiquidity": "excess_liquidity", "InitMarginReq": "initial_margin",
    "MaintMarginReq": "maintenance_margin", "EquityWithLoanValue": "equity_with_loan",
}
_LEDGER_FIELDS = {
    "CashBalance": "cash", "NetLiquidationByCurrency": "net_liquidation", "UnrealizedPnL": "unrealized_pnl",
    "RealizedPnL": "realized_pnl", "ExchangeRate": "exchange_rate",
}


def _figure(value: float) -> Decimal | None:
    return None if value is None or math.isnan(value) else to_decimal(value)


def _subscription(ib: IB, account_id: str) -> PnL:
    existing = [p for p in ib.pnl(account_id) if not p.modelCode]
    return existing[0] if existing else ib.reqPnL(account_id)


def _single(ib: IB, account_id: str, con_id: int) -> PnLSingle:
    existing = ib.pnlSingle(account_id, "", con_id)
    return existing[0] if existing else ib.reqPnLSingle(account_id, "", con_id)


async def _until(ib: IB, ready: Callable[[], bool], timeout: float) -> bool:
    """Wait for pushed P&L updates until `ready()` holds or the time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    changed = asyncio.Event()

    def poke(*_: object) -> None:
        changed.set()

    ib.pnlEvent += poke
    ib.pnlSingleEvent += poke
    try:
        while not ready():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return ready()
        return True
    finally:
        ib.pnlEvent -= poke
        ib.pnlSingleEvent -= poke


async def account_pnl(ib: IB, account_id: str, timeout: float) -> AccountPnL:
    held = [p for p in ib.positions(account_id) if p.position]
    total = _subscription(ib, account_id)
    singles = {p.contract.conId: _single(ib, account_id, p.contract.conId) for p in held}
    for stale in [s for s in ib.pnlSingle(account_id) if s.conId not in singles]:
        ib.cancelPnLSingle(account_id, "", stale.conId)
    arrived = await _until(ib, lambda: not math.isnan(total.dailyPnL) and all(
        not math.isnan(s.dailyPnL) for s in singles.values()), timeout)
    if math.isnan(total.dailyPnL):
        raise TradeError(ErrorCode.BROKER_UNAVAILABLE, f"IB Gateway sent no P&L for {account_id} within "
                         f"{timeout:g}s", {"account_id": account_id})
    positions = []
    for held_position in held:
        contract, single = held_position.contract, singles[held_position.contract.conId]
        derivative = contract.secType in ("FUT", "OPT", "FOP") and contract.localSymbol
        positions.append(PositionPnL(
            ticker=contract.localSymbol if derivative else contract.symbol, broker_symbol_id=str(contract.conId),
            quantity=to_decimal(held_position.position), market_value=_figure(single.value),
            daily=_figure(single.dailyPnL), unrealized=_figure(single.unrealizedPnL),
            realized=_figure(single.realizedPnL),
        ))
    return AccountPnL(
        account_id=account_id, provider=BrokerProvider.IBKR, currency=_base_currency(ib, account_id),
        daily=_figure(total.dailyPnL), unrealized=_figure(total.unrealizedPnL), realized=_figure(total.realizedPnL),
        positions=positions, positions_total=_sum(positions) if arrived else PnLFigures(),
        fetched_at=datetime.now(UTC),
    )


def _sum(positions: list[PositionPnL]) -> PnLFigures:
    def total(name: str) -> Decimal | None:
        values = [getattr(p, name) for p in positions]
        return None if any(v is None for v in values) else sum(values, Decimal(0))

    return PnLFigures(daily=total("daily"), unrealized=total("unrealized"), realized=total("realized"))


def _base_currency(ib: IB, account_id: str) -> str:
    for value in ib.wrapper.acctSummary.values():
        if value.account == account_id and value.tag == "NetLiquidation" and value.currency not in ("", "BASE"):
            return value.currency
    return "USD"


async def account_summary(ib: IB, account_id: str) -> AccountSummary:
    return summary_from(await summary_values(ib, account_id, "summary"), account_id)


def summary_from(values: list[AccountValue], account_id: str) -> AccountSummary:
    base: dict[str, Decimal | None] = {}
    currency = "USD"
    ledgers: dict[str, dict[str, Decimal | None]] = {}
    for value in values:
        if value.currency in ("", "BASE"):
            continue
        name = _SUMMARY_FIELDS.get(value.tag)
        if name is not None:
            base[name] = to_decimal(value.value)
            if value.tag == "NetLiquidation":
                currency = value.currency
        ledger = _LEDGER_FIELDS.get(value.tag)
        if ledger is not None:
            ledgers.setdefault(value.currency, {})[ledger] = to_decimal(value.value)
    by_currency = [
        CurrencySummary(currency=code, **{"exchange_rate": Decimal(1) if code == currency else None, **fields})
        for code, fields in sorted(ledgers.items(), key=lambda item: (item[0] != currency, item[0]))
    ]
    return AccountSummary(account_id=account_id, provider=BrokerProvider.IBKR, currency=currency,
                          by_currency=by_currency, fetched_at=datetime.now(UTC), **base)
