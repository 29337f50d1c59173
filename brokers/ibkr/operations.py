"""The IBKR adapter's reads (accounts, symbols, quotes, balances, positions, previews), written as
coroutines over an `IB` that run on the connection manager's loop thread. Orders are in trading.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from typing import Any, cast

from ib_async import IB, OrderState, RequestError

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.contracts import ContractResolver, ResolvedContract
from brokers.ibkr.decimals import to_decimal
from brokers.ibkr.instrument_contracts import contract_record, listing_elsewhere, resolve_instrument
from brokers.ibkr.market_data import snapshot_quote
from brokers.ibkr.orders import build_order
from brokers.ibkr.portfolio import account_balance, positions
from brokers.ibkr.status import INSUFFICIENT_FUNDS_MARKERS
from brokers.ibkr.symbol_search import matching_symbols
from brokers.instruments import Instrument
from brokers.models import BrokerProvider, OrderRequest
from brokers.records import AccountBalance, BrokerAccount, BrokerPreview, Position, Quote, SymbolMatch

IB_ACCOUNT_ID = re.compile(r"^(?:U|DU|F|DF)\d{1,12}$")
PAPER_PREFIXES = ("DU", "DF")
_MARGIN_FIELDS = {
    "init_margin_before": "initMarginBefore", "init_margin_change": "initMarginChange",
    "init_margin_after": "initMarginAfter", "maint_margin_before": "maintMarginBefore",
    "maint_margin_change": "maintMarginChange", "maint_margin_after": "maintMarginAfter",
    "equity_with_loan_before": "equityWithLoanBefore", "equity_with_loan_change": "equityWithLoanChange",
    "equity_with_loan_after": "equityWithLoanAfter",
}


def is_paper_account_id(account_id: str) -> bool:
    return account_id.startswith(PAPER_PREFIXES)


class IBKROperations:
    def __init__(
        self, owns_account: Callable[[str], bool], resolver: ContractResolver, snapshot_timeout: float
    ) -> None:
        self.owns_account = owns_account
        self.resolver = resolver
        self.snapshot_timeout = snapshot_timeout

    def check_account(self, ib: IB, account_id: str) -> None:
        """An account this process may use and the gateway manages. A session that ended while the call
        waited its turn (ib_async clears the managed accounts at the drop) is a lost connection, not an
        answer: the caller retries a read on the next session, and a placement reports nothing sent."""
        owned = self.owns_account(account_id)
        managed = ib.managedAccounts()
        if owned and not managed:  # a live session always names at least one account
            raise ConnectionError("the IB Gateway session ended before the request ran")
        if not owned or account_id not in managed:
            raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, f"IB Gateway does not manage account {account_id}",
                             {"account_id": account_id})

    async def accounts(self, ib: IB) -> list[BrokerAccount]:
        return self.listed(ib.managedAccounts())

    def listed(self, managed: Iterable[str]) -> list[BrokerAccount]:
        """The gateway's managed accounts that this process may use."""
        return [
            BrokerAccount(account_id=a, provider=BrokerProvider.IBKR, name=f"IBKR {a}", number=a,
                          institution="Interactive Brokers", is_paper=is_paper_account_id(a))
            for a in managed if self.owns_account(a)
        ]

    async def search(self, ib: IB, account_id: str, ticker: str) -> list[SymbolMatch]:
        """The ticker's own contract first, then what the gateway matches by ticker prefix or company name."""
        self.check_account(ib, account_id)
        return await matching_symbols(ib, ticker, await self._exact(ib, ticker))

    async def _exact(self, ib: IB, ticker: str) -> list[SymbolMatch]:
        try:
            resolved = await self.resolver.resolve(ib, ticker)
        except TradeError as exc:
            if exc.code is not ErrorCode.SYMBOL_NOT_FOUND:
                raise
            derivative = exc.details.get("derivative_ticker")
            if not isinstance(derivative, str):
                other = await listing_elsewhere(self.resolver, ib, ticker.replace(".", " "), ticker)
                return [] if other is None else [_match(ticker, other)]  # e.g. VOD on LSE in GBP
            ticker, resolved = derivative, await self.resolver.resolve(ib, derivative)
        return [_match(ticker, resolved)]

    async def quote(self, ib: IB, account_id: str, ticker: str, instrument: Instrument | None = None) -> Quote:
        """The ticker alone (a bare ticker, '/ES' as the continuous future), or the instrument an order would
        name (VOD on LSE in GBP, an option by its fields), resolved as preview_order resolves it."""
        self.check_account(ib, account_id)
        if instrument is not None:
            resolved = await resolve_instrument(self.resolver, ib, instrument, ticker)
        else:
            resolved = await self.resolver.resolve(ib, ticker, continuous=True)
        return await snapshot_quote(ib, resolved, ticker, self.snapshot_timeout)

    async def balance(self, ib: IB, account_id: str) -> AccountBalance:
        self.check_account(ib, account_id)
        return await account_balance(ib, account_id)

    async def positions(self, ib: IB, account_id: str) -> list[Position]:
        self.check_account(ib, account_id)
        return positions(ib, account_id)

    async def preview_with_snapshot(
        self, ib: IB, order: OrderRequest
    ) -> tuple[BrokerPreview, tuple[AccountBalance, list[Position]] | TradeError]:
        """The preview and the balance and positions it is checked against, in one trip to the loop: the reads
        answer from ib_async's caches while the whatIf is out. A failed preview discards the reads; a read that
        was refused is handed back (the caller raises it where it would have read it), one that lost the
        connection is raised (so the call is retried like any read)."""
        account = order.account_id
        preview, balance, held = await asyncio.gather(
            self.preview(ib, order), self.balance(ib, account), self.positions(ib, account), return_exceptions=True)
        if isinstance(preview, BaseException):
            raise preview
        if isinstance(balance, BaseException) or isinstance(held, BaseException):
            failed = balance if isinstance(balance, BaseException) else held
            if isinstance(failed, TradeError):
                return preview, failed
            raise cast(BaseException, failed)
        return preview, (balance, held)

    async def preview(self, ib: IB, order: OrderRequest) -> BrokerPreview:
        """whatIf for commission and margin, a snapshot for the price (whatIf has none), concurrently."""
        self.check_account(ib, order.account_id)
        resolved = await resolve_instrument(self.resolver, ib, order.instrument, order.ticker)
        state, quote = await asyncio.gather(
            self._what_if(ib, resolved, order), snapshot_quote(ib, resolved, order.ticker, self.snapshot_timeout)
        )
        warnings: list[str] = []
        commission = to_decimal(state.commission)
        if commission is None:
            warnings.append("IBKR returned no commission estimate (unset); the total excludes commission")
        if quote.delayed:
            warnings.append("no live market data subscription: the price estimate uses delayed data")
        if quote.reference_price is None:
            warnings.append(f"no market data for {order.ticker}: the price is estimated from the order")
        if state.warningText:
            warnings.append(f"IBKR: {state.warningText}")
        return BrokerPreview(
            broker_symbol_id=str(resolved.con_id),
            estimated_price=quote.reference_price or order.limit_price or order.stop_price,
            estimated_commission=commission,
            multiplier=resolved.multiplier,
            currency=resolved.currency,
            commission_currency=state.commissionCurrency or None,
            quote=quote,
            margin_impact={name: to_decimal(getattr(state, attr)) for name, attr in _MARGIN_FIELDS.items()},
            warnings=warnings,
            raw={"contract": contract_record(resolved), "what_if": _what_if_raw(state),
                 "market_data": "delayed" if quote.delayed else "live"},
        )

    async def _what_if(self, ib: IB, resolved: ResolvedContract, order: OrderRequest) -> OrderState:
        try:
            state = await ib.whatIfOrderAsync(resolved.contract, build_order(order, order.account_id))
        except RequestError as exc:
            insufficient = any(m in exc.message.lower() for m in INSUFFICIENT_FUNDS_MARKERS)
            raise TradeError(
                ErrorCode.INSUFFICIENT_FUNDS if insufficient else ErrorCode.BROKER_REJECTED,
                f"IBKR refused the order preview ({exc.code}): {exc.message}", {"code": exc.code},
            ) from None
        if not isinstance(state, OrderState):
            raise TradeError(ErrorCode.BROKER_ERROR, "IBKR returned no whatIf result for the order")
        return state


def _match(ticker: str, resolved: ResolvedContract) -> SymbolMatch:
    exchange = resolved.contract.primaryExchange if resolved.exchange == "SMART" and resolved.currency != "USD" else (
        resolved.exchange)
    return SymbolMatch(ticker=ticker, broker_symbol_id=str(resolved.con_id), description=resolved.description,
                       sec_type=resolved.kind, exchange=exchange or resolved.exchange, currency=resolved.currency)


def _what_if_raw(state: OrderState) -> dict[str, Any]:
    values: dict[str, Any] = {attr: getattr(state, attr) or None for attr in _MARGIN_FIELDS.values()}
    for attr in ("commission", "minCommission", "maxCommission"):
        number = to_decimal(getattr(state, attr))
        values[attr] = str(number) if number is not None else None
    values.update(status=state.status, commissionCurrency=state.commissionCurrency or None,
                  warningText=state.warningText or None)
    return values
