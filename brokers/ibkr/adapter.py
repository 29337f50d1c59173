"""IBKRBrokerAdapter: the BrokerAdapter for Interactive Brokers, over IBKRConnectionManager.

Every operation is one coroutine (`_preview`, `_place`, ...) run on the manager's loop; the
BrokerAdapter methods are sync wrappers and the `*_async` twins serve async callers, so both
share one implementation, one timeout and one set of errors.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from ib_async import IB, OrderState, RequestError, Trade

from brokers.base import BrokerAdapter, OrderUpdateHandler
from brokers.errors import ErrorCode, OrderOutcomeUnknown, TradeError
from brokers.ibkr.connection import IBKRConnectionManager, Operation
from brokers.ibkr.contracts import ContractResolver, ResolvedContract
from brokers.ibkr.decimals import to_decimal
from brokers.ibkr.lifecycle import CallKind, unavailable
from brokers.ibkr.market_data import snapshot_quote
from brokers.ibkr.orders import broker_order, build_order
from brokers.ibkr.portfolio import account_balance, positions, refresh_summary
from brokers.ibkr.status import INSUFFICIENT_FUNDS_MARKERS
from brokers.ibkr.trading import OrderDesk, SendGuard
from brokers.models import (
    ACTIVE_STATUSES,
    AccountBalance,
    BrokerAccount,
    BrokerCapabilities,
    BrokerOrder,
    BrokerPreview,
    BrokerProvider,
    OrderLookup,
    OrderRequest,
    OrderStatus,
    OrderToPlace,
    OrderType,
    Position,
    Quote,
    SymbolMatch,
    TimeInForce,
)
from settings import Settings, TradingMode

log = logging.getLogger(__name__)
T = TypeVar("T")
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


class IBKRBrokerAdapter(BrokerAdapter):
    provider = BrokerProvider.IBKR
    capabilities = BrokerCapabilities(order_types=frozenset(OrderType), time_in_force=frozenset(TimeInForce))

    def __init__(
        self,
        manager: IBKRConnectionManager,
        *,
        trading_mode: TradingMode = TradingMode.PAPER,
        allowed_accounts: tuple[str, ...] = (),
        request_timeout: float | None = None,
        ack_timeout: float | None = None,
        cancel_timeout: float | None = None,
        owns_manager: bool = False,
    ) -> None:
        self.manager = manager
        self.trading_mode = trading_mode
        self.allowed_accounts = tuple(allowed_accounts)
        self.timeout = request_timeout or manager.request_timeout
        self.snapshot_timeout = min(self.timeout / 3, 4.0)
        self.resolver = ContractResolver()
        self.desk = OrderDesk(
            self.resolver,
            ack_timeout=ack_timeout or max(self.timeout - 1.0, self.timeout * 0.8),
            cancel_timeout=cancel_timeout or min(self.timeout / 2, 5.0),
        )
        self._owns_manager = owns_manager
        self._on_update: OrderUpdateHandler | None = None
        self._on_reconnect: Callable[[], None] | None = None
        manager.add_order_listener(self._trade_event)
        manager.add_reconnect_listener(self._reconnected)

    @classmethod
    def from_settings(cls, settings: Settings) -> IBKRBrokerAdapter:
        return cls(
            IBKRConnectionManager.for_settings(settings),
            trading_mode=settings.trading_mode,
            allowed_accounts=settings.ibkr_accounts,
            request_timeout=settings.ibkr_request_timeout_seconds,
        )

    # --- accounts ----------------------------------------------------------------------------
    def owns_account(self, account_id: str) -> bool:
        """IB's id shapes only (no network): the router asks every adapter about every account."""
        if not IB_ACCOUNT_ID.match(account_id):
            return False
        return not self.allowed_accounts or account_id in self.allowed_accounts

    def is_paper_account(self, account_id: str) -> bool:
        return is_paper_account_id(account_id)

    def list_accounts(self) -> list[BrokerAccount]:
        return self._read(self._list_accounts)

    async def list_accounts_async(self) -> list[BrokerAccount]:
        return await self._read_async(self._list_accounts)

    async def _list_accounts(self, ib: IB) -> list[BrokerAccount]:
        return [
            BrokerAccount(account_id=a, provider=self.provider, name=f"IBKR {a}", number=a,
                          institution="Interactive Brokers", is_paper=is_paper_account_id(a))
            for a in ib.managedAccounts() if self.owns_account(a)
        ]

    def _check_account(self, ib: IB, account_id: str) -> None:
        if not self.owns_account(account_id) or account_id not in ib.managedAccounts():
            raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, f"IB Gateway does not manage account {account_id}",
                             {"account_id": account_id})

    # --- market data ---------------------------------------------------------------------------
    def search_symbol(self, account_id: str, ticker: str) -> list[SymbolMatch]:
        return self._read(lambda ib: self._search(ib, account_id, ticker))

    async def _search(self, ib: IB, account_id: str, ticker: str) -> list[SymbolMatch]:
        self._check_account(ib, account_id)
        try:
            resolved = await self.resolver.resolve(ib, ticker)
        except TradeError as exc:
            if exc.code is ErrorCode.SYMBOL_NOT_FOUND:
                return []
            raise
        return [SymbolMatch(ticker=ticker, broker_symbol_id=str(resolved.con_id), description=resolved.description,
                            sec_type=resolved.kind, exchange=resolved.exchange, currency=resolved.currency)]

    def get_quote(self, account_id: str, ticker: str) -> Quote:
        return self._read(lambda ib: self._quote(ib, account_id, ticker))

    async def get_quote_async(self, account_id: str, ticker: str) -> Quote:
        return await self._read_async(lambda ib: self._quote(ib, account_id, ticker))

    async def _quote(self, ib: IB, account_id: str, ticker: str) -> Quote:
        self._check_account(ib, account_id)
        resolved = await self.resolver.resolve(ib, ticker)
        return await snapshot_quote(ib, resolved, ticker, self.snapshot_timeout)

    # --- balances and positions --------------------------------------------------------------
    def get_account_balance(self, account_id: str) -> AccountBalance:
        return self._read(lambda ib: self._balance(ib, account_id))

    async def _balance(self, ib: IB, account_id: str) -> AccountBalance:
        self._check_account(ib, account_id)
        return await account_balance(ib, account_id)

    def get_positions(self, account_id: str) -> list[Position]:
        return self._read(lambda ib: self._positions(ib, account_id))

    async def _positions(self, ib: IB, account_id: str) -> list[Position]:
        self._check_account(ib, account_id)
        return positions(ib, account_id)

    def refresh_after_trade(self, account_id: str) -> None:
        """Fire and forget: the next preview sees post-trade balances without slowing this execute."""
        future = self.manager.submit(refresh_summary, timeout=self.timeout)
        future.add_done_callback(_log_failure)

    # --- preview -----------------------------------------------------------------------------
    def preview_order(self, order: OrderRequest) -> BrokerPreview:
        return self._read(lambda ib: self._preview(ib, order))

    async def preview_order_async(self, order: OrderRequest) -> BrokerPreview:
        return await self._read_async(lambda ib: self._preview(ib, order))

    async def _preview(self, ib: IB, order: OrderRequest) -> BrokerPreview:
        self._check_account(ib, order.account_id)
        resolved = await self.resolver.resolve(ib, order.ticker)
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
        margin = {name: to_decimal(getattr(state, attr)) for name, attr in _MARGIN_FIELDS.items()}
        return BrokerPreview(
            broker_symbol_id=str(resolved.con_id),
            estimated_price=quote.reference_price or order.limit_price or order.stop_price,
            estimated_commission=commission,
            multiplier=resolved.multiplier,
            currency=resolved.currency,
            quote=quote,
            margin_impact=margin,
            warnings=warnings,
            raw={"contract": _contract_raw(resolved), "what_if": _what_if_raw(state),
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

    # --- orders --------------------------------------------------------------------------------
    def place_order(self, account_id: str, order: OrderToPlace, client_order_ref: str) -> BrokerOrder:
        self._refuse_unsafe(account_id)
        guard = SendGuard()

        def lost(limit: float) -> TradeError:
            if guard.abandon():
                return unavailable(f"no answer from IB Gateway within {limit:g}s; the order was not sent",
                                   self.manager.endpoint, client_order_ref=client_order_ref)
            return OrderOutcomeUnknown(
                f"no acknowledgement from IB Gateway within {limit:g}s after sending; the order may exist",
                {"client_order_ref": client_order_ref, "account_id": account_id},
            )

        return self.manager.run_sync(
            lambda ib: self._place(ib, account_id, order, client_order_ref, guard),
            timeout=self.timeout, kind=CallKind.ORDER, on_lost=lost,
        )

    async def _place(self, ib: IB, account_id: str, order: OrderToPlace, ref: str, guard: SendGuard) -> BrokerOrder:
        self._check_account(ib, account_id)
        return await self.desk.place(ib, self.manager.session_event(), account_id, order, ref, guard)

    def _refuse_unsafe(self, account_id: str) -> None:
        """TRADING_MODE=paper places on paper accounts only, whatever else is configured."""
        if self.trading_mode is TradingMode.PAPER and not is_paper_account_id(account_id):
            raise TradeError(
                ErrorCode.TRADING_DISABLED,
                f"TRADING_MODE=paper: {account_id} is not an IBKR paper account (DU/DF); the order was not sent",
                {"account_id": account_id, "trading_mode": "paper"},
            )
        if not self.owns_account(account_id):
            raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, f"{account_id} is not an allowed IBKR account",
                             {"account_id": account_id})

    def cancel_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        async def cancel(ib: IB) -> BrokerOrder:
            self._check_account(ib, account_id)
            return await self.desk.cancel(ib, self.manager.session_event(), account_id, brokerage_order_id)

        return self.manager.run_sync(cancel, timeout=self.timeout, kind=CallKind.ORDER)

    def get_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        async def get(ib: IB) -> BrokerOrder:
            self._check_account(ib, account_id)
            return await self.desk.get(ib, account_id, brokerage_order_id)

        return self._read(get)

    def get_orders(self, account_id: str, state: str = "all", days: int = 30) -> list[BrokerOrder]:
        async def orders(ib: IB) -> list[BrokerOrder]:
            self._check_account(ib, account_id)
            return await self.desk.all_orders(ib, account_id)

        since = datetime.now(UTC) - timedelta(days=days)
        wanted = {"open": ACTIVE_STATUSES, "executed": frozenset({OrderStatus.EXECUTED})}.get(state)
        return [
            o for o in self._read(orders)
            if (wanted is None or o.status in wanted) and (o.placed_at is None or o.placed_at >= since)
        ]

    def find_order_by_ref(self, lookup: OrderLookup) -> BrokerOrder | None:
        async def find(ib: IB) -> BrokerOrder | None:
            self._check_account(ib, lookup.account_id)
            return await self.desk.find_by_ref(ib, lookup)

        return self._read(find)

    # --- pushed events ----------------------------------------------------------------------------
    def set_order_update_handler(self, handler: OrderUpdateHandler | None) -> None:
        self._on_update = handler

    def set_reconnect_handler(self, handler: Callable[[], None] | None) -> None:
        self._on_reconnect = handler

    def _trade_event(self, trade: Trade) -> None:
        """On the loop thread: snapshot now (the Trade keeps changing), write on the worker thread."""
        if self._on_update is None or not trade.order.orderRef:
            return
        update = broker_order(trade)
        if update.account_id and not self.owns_account(update.account_id):
            return
        self.manager.dispatch(self._deliver, update)

    def _deliver(self, update: BrokerOrder) -> None:
        handler = self._on_update
        if handler is not None:
            handler(self.provider, update)

    def _reconnected(self) -> None:
        handler = self._on_reconnect
        if handler is not None:
            handler()

    def close(self) -> None:
        self.manager.remove_order_listener(self._trade_event)
        self.manager.remove_reconnect_listener(self._reconnected)
        if self._owns_manager:
            self.manager.shutdown()

    # --- plumbing --------------------------------------------------------------------------------
    def _read(self, operation: Operation[T]) -> T:
        return self.manager.run_sync(operation, timeout=self.timeout)

    async def _read_async(self, operation: Operation[T]) -> T:
        return await self.manager.run(operation, timeout=self.timeout)


def _contract_raw(resolved: ResolvedContract) -> dict[str, Any]:
    return {
        "con_id": resolved.con_id, "symbol": resolved.symbol, "sec_type": resolved.sec_type,
        "local_symbol": resolved.local_symbol, "exchange": resolved.exchange, "currency": resolved.currency,
        "multiplier": str(resolved.multiplier), "description": resolved.description,
    }


def _what_if_raw(state: OrderState) -> dict[str, Any]:
    values: dict[str, Any] = {attr: getattr(state, attr) or None for attr in _MARGIN_FIELDS.values()}
    for attr in ("commission", "minCommission", "maxCommission"):
        number = to_decimal(getattr(state, attr))
        values[attr] = str(number) if number is not None else None
    values.update(status=state.status, commissionCurrency=state.commissionCurrency or None,
                  warningText=state.warningText or None)
    return values


def _log_failure(future: Any) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is not None and not isinstance(error, TradeError):
        log.warning("IBKR background refresh failed: %r", error)

