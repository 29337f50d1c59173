"""SnapTradeBrokerAdapter: any brokerage reached through SnapTrade, as a BrokerAdapter.

Orders go out by trade id (preview = order impact, execute = place that trade), so
what is placed is exactly what was previewed. A placement is sent once: a refusal is
final, a lost answer is `OrderOutcomeUnknown`, and reconciliation finds the order in
the account's order list (`find_order_by_ref`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

from snaptrade_client import ApiException

from brokers.base import AccountSnapshot, BrokerAdapter
from brokers.errors import BrokerRefused, ErrorCode, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.instruments import Instrument
from brokers.models import BASIC_ORDER_TYPES, BrokerProvider, OrderRequest, TimeInForce
from brokers.records import (
    AccountBalance,
    BrokerAccount,
    BrokerCapabilities,
    BrokerOrder,
    BrokerPreview,
    OrderLookup,
    OrderToPlace,
    Position,
    Quote,
    SymbolMatch,
)
from brokers.snaptrade import impact, parsing
from brokers.snaptrade.accounts import AccountDirectories, AccountEntry, entries, is_uuid
from brokers.snaptrade.client import SnapTradeApi, SnapTradeCredentials, TransportError
from brokers.snaptrade.errors import (
    UNKNOWN_HINT,
    placement_error,
    placement_transport_error,
    read_error,
    read_transport_error,
)
from brokers.snaptrade.market_source import SnapTradeMarketData
from brokers.snaptrade.matching import MAX_DAYS, candidates, lookback_days
from brokers.snaptrade.parsing import ResponseError
from brokers.snaptrade.read_pool import ReadPool, answer, discard
from brokers.snaptrade.redact import protect_logs, release_logs
from brokers.snaptrade.user_credentials import UserCredentialsProvider
from settings import Settings

log = logging.getLogger(__name__)

ORDER_STATES = ("all", "open", "executed")
SYMBOL_TTL_SECONDS = 900.0


class SnapTradeBrokerAdapter(BrokerAdapter, SnapTradeMarketData):
    provider = BrokerProvider.SNAPTRADE
    capabilities = BrokerCapabilities(
        order_types=BASIC_ORDER_TYPES, time_in_force=frozenset(TimeInForce), fractional_quantities=True,
        notional_orders=True,
    )

    def __init__(
        self,
        credentials: SnapTradeCredentials,
        *,
        account_ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        user_credentials: UserCredentialsProvider | None = None,
    ) -> None:
        self._api = SnapTradeApi(credentials, user_credentials)
        self._redactor = credentials.redactor()
        protect_logs(self._redactor)
        self._clock = clock
        self._directories = AccountDirectories(self._api.user_key, self._load_accounts, account_ttl_seconds,
                                               clock=clock)
        self._symbols: dict[tuple[str, str], tuple[str, float]] = {}
        self._symbols_lock = threading.Lock()
        self._reads = ReadPool()

    @classmethod
    def from_settings(
        cls, settings: Settings, user_credentials: UserCredentialsProvider | None = None
    ) -> SnapTradeBrokerAdapter:
        """`user_credentials`: the platform's per-user SnapTrade credentials (default: the settings' pair)."""
        return cls(SnapTradeCredentials.from_settings(settings), user_credentials=user_credentials)

    def close(self) -> None:
        self._reads.close()
        self._api.close()
        release_logs(self._redactor)

    # --- plumbing ------------------------------------------------------------------------
    @contextmanager
    def _reading(self, operation: str, not_found: ErrorCode = ErrorCode.BROKER_ERROR) -> Iterator[None]:
        """Every non-placement call: SDK, transport and parsing failures become TradeErrors."""
        try:
            yield
        except TradeError:
            raise
        except ApiException as exc:
            raise read_error(exc, self._redactor, operation, not_found) from None
        except TransportError as exc:
            raise read_transport_error(exc, operation) from None
        except ResponseError as exc:
            message = self._redactor.text(str(exc))
            raise TradeError(ErrorCode.BROKER_ERROR, f"unexpected SnapTrade answer ({operation}): {message}") from None
        except Exception as exc:
            message = self._redactor.text(str(exc))[:300]
            log.warning("SnapTrade %s failed: %s: %s", operation, type(exc).__name__, message)
            raise TradeError(
                ErrorCode.BROKER_ERROR, f"SnapTrade {operation} failed ({type(exc).__name__}: {message})"
            ) from None

    def _call(self, operation: Callable[..., Any], **arguments: Any) -> Any:
        return self._redactor.payload(self._api.call(operation, **arguments))

    def _load_accounts(self) -> Mapping[str, AccountEntry]:
        with self._reading("list accounts"):
            return entries(self._call(self._api.sdk.account_information.list_all_user_accounts))

    def _entry(self, account_id: str) -> AccountEntry:
        found = self._directories.current().get(account_id)
        if found is None:
            raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, f"account {account_id} is not a SnapTrade account of "
                             "this user", {"account_id": account_id})
        return found

    # --- accounts ------------------------------------------------------------------------
    def owns_account(self, account_id: str) -> bool:
        try:
            directory = self._directories.current()
        except TradeError as exc:
            if exc.code is ErrorCode.ACCOUNT_NOT_FOUND:
                return False  # this platform user has no SnapTrade user, so no SnapTrade account
            raise
        return directory.get(account_id) is not None

    def list_accounts(self) -> list[BrokerAccount]:
        return [e.account for e in self._directories.current().all(fresh=True).values()]

    def account(self, account_id: str) -> BrokerAccount | None:
        found = self._directories.current().get(account_id)
        return found.account if found is not None else None

    def is_paper_account(self, account_id: str) -> bool:
        found = self._directories.current().get(account_id)
        return found is not None and found.account.is_paper

    def get_account_balance(self, account_id: str) -> AccountBalance:
        return self.account_snapshot(account_id)[0]

    def account_snapshot(self, account_id: str) -> AccountSnapshot:
        """SnapTrade's balance has no net liquidation: it is cash plus the positions, read once for both (the two
        requests at once)."""
        self._entry(account_id)
        return self._snapshot(account_id, *self._start_snapshot(account_id))

    def _start_snapshot(self, account_id: str) -> tuple[Future[Any], Future[list[Position]]]:
        return self._reads.start(self._balances, account_id), self._reads.start(self.get_positions, account_id)

    def _snapshot(self, account_id: str, balances: Future[Any], held: Future[list[Position]]) -> AccountSnapshot:
        """The started reads' answers; the balances' error first, as when they were read first."""
        currency = self._entry(account_id).account.currency
        body = answer(balances)
        positions = answer(held)
        with self._reading("read balances"):
            return parsing.balance(account_id, body, currency, positions), positions

    def _balances(self, account_id: str) -> Any:
        with self._reading("get balances", ErrorCode.ACCOUNT_NOT_FOUND):
            return self._call(self._api.sdk.account_information.get_user_account_balance, account_id=account_id)

    def get_positions(self, account_id: str) -> list[Position]:
        with self._reading("get positions", ErrorCode.ACCOUNT_NOT_FOUND):
            body = self._call(self._api.sdk.account_information.get_all_account_positions, account_id=account_id)
            return parsing.positions(account_id, body)

    def refresh_after_trade(self, account_id: str) -> None:
        """SnapTrade recommends a manual refresh after placing, so holdings catch up sooner."""
        connection = self._entry(account_id).connection_id
        if connection is None:
            return
        with self._reading("refresh the brokerage connection"):
            self._call(self._api.sdk.connections.refresh_brokerage_authorization, authorization_id=connection)

    # --- symbols and quotes --------------------------------------------------------------
    def search_symbol(self, account_id: str, ticker: str) -> list[SymbolMatch]:
        with self._reading("search symbols", ErrorCode.ACCOUNT_NOT_FOUND):
            body = self._call(
                self._api.sdk.reference_data.symbol_search_user_account, account_id=account_id, substring=ticker
            )
            return [parsing.symbol_match(item) for item in parsing.items(body) if item.get("id")]

    def _universal_symbol_id(self, account_id: str, ticker: str) -> str:
        key = (account_id, ticker.upper())
        with self._symbols_lock:
            cached = self._symbols.get(key)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        exact = {m.broker_symbol_id: m for m in self.search_symbol(account_id, ticker) if m.ticker.upper() == key[1]}
        if len(exact) > 1:
            currency = self._entry(account_id).account.currency
            exact = {k: m for k, m in exact.items() if m.currency == currency} or exact
        if not exact:
            raise TradeError(ErrorCode.SYMBOL_NOT_FOUND, f"SnapTrade has no symbol {ticker} for this account",
                             {"ticker": ticker})
        if len(exact) > 1:
            listed = sorted(f"{m.ticker} on {m.exchange} ({m.currency})" for m in exact.values())
            raise TradeError(ErrorCode.VALIDATION_ERROR, f"{ticker} is ambiguous at SnapTrade: {', '.join(listed)}",
                             {"ticker": ticker, "matches": listed})
        symbol_id = next(iter(exact))
        with self._symbols_lock:
            self._symbols[key] = (symbol_id, self._clock() + SYMBOL_TTL_SECONDS)
        return symbol_id

    def get_quote(self, account_id: str, ticker: str, instrument: Instrument | None = None) -> Quote:
        """`instrument`: only a plain stock reaches here (SnapTrade offers no listing choice)."""
        with self._reading("get quotes", ErrorCode.ACCOUNT_NOT_FOUND):
            body = self._call(
                self._api.sdk.trading.get_user_account_quotes, symbols=ticker, account_id=account_id, use_ticker=True
            )
            found = parsing.quote(ticker, body)
        if found is None:
            raise TradeError(ErrorCode.SYMBOL_NOT_FOUND, f"SnapTrade has no quote for {ticker}", {"ticker": ticker})
        return found

    # --- preview and placement -----------------------------------------------------------
    def preview_order(self, order: OrderRequest) -> BrokerPreview:
        symbol_id = self._symbol_of(order)
        return self._impact(order, symbol_id, self._reads.start(self.get_quote, order.account_id, order.ticker))

    def preview_with_snapshot(self, order: OrderRequest) -> tuple[BrokerPreview, Callable[[], AccountSnapshot]]:
        """The order impact from this thread while the quote, balances and positions are in flight beside it.
        An unknown account or symbol is refused before any of them is sent."""
        symbol_id = self._symbol_of(order)
        quote = self._reads.start(self.get_quote, order.account_id, order.ticker)
        balances, held = self._start_snapshot(order.account_id)
        try:
            preview = self._impact(order, symbol_id, quote)
        except BaseException:
            discard(balances, held)
            raise
        return preview, partial(self._snapshot, order.account_id, balances, held)

    def _symbol_of(self, order: OrderRequest) -> str:
        self._entry(order.account_id)
        return self._universal_symbol_id(order.account_id, order.ticker)

    def _impact(self, order: OrderRequest, symbol_id: str, quoted: Future[Quote]) -> BrokerPreview:
        """POST /trade/impact, then the quote sent beside it: without a quote the preview has a warning."""
        sent_at = datetime.now(UTC)
        try:
            with self._reading("check the order impact", ErrorCode.ACCOUNT_NOT_FOUND):
                body = self._call(self._api.sdk.trading.get_order_impact, **impact.impact_form(order, symbol_id))
        except BaseException:
            discard(quoted)
            raise
        warnings: list[str] = []
        quote: Quote | None = None
        try:
            quote = answer(quoted)
        except TradeError as exc:
            warnings.append(f"no quote from SnapTrade: {exc.message}")
        with self._reading("check the order impact", ErrorCode.ACCOUNT_NOT_FOUND):
            return impact.preview(order, symbol_id, body, quote, sent_at, warnings)

    def place_order(self, account_id: str, order: OrderToPlace, client_order_ref: str) -> BrokerOrder:
        """Place the previewed trade, once. Nothing here retries, and nothing re-previews."""
        trade_id = order.broker_trade_id
        if not trade_id or not is_uuid(trade_id):
            raise NothingSent("this preview has no SnapTrade trade id; preview the trade again",
                              {"account_id": account_id}, code=ErrorCode.PREVIEW_EXPIRED)
        before = self._api.requests_started()
        try:
            body = self._call(self._api.sdk.trading.place_order, trade_id=trade_id, wait_to_confirm=True)
        except ApiException as exc:
            raise placement_error(exc, self._redactor) from None
        except TransportError as exc:
            raise placement_transport_error(exc) from None
        except (NothingSent, BrokerRefused, OrderOutcomeUnknown):
            raise
        except Exception as exc:
            name = type(exc).__name__
            if self._api.requests_started() == before:
                if isinstance(exc, TradeError):
                    raise NothingSent.of(exc) from None
                raise NothingSent(f"the SnapTrade SDK refused the placement ({name}); the order was not sent") from None
            log.warning("SnapTrade placement failed after sending: %s", name)
            raise OrderOutcomeUnknown(f"the placement failed after sending ({name}): {UNKNOWN_HINT}") from None
        if not isinstance(body, Mapping):
            raise OrderOutcomeUnknown(f"SnapTrade accepted the placement but answered no order record: {UNKNOWN_HINT}")
        try:
            return parsing.order(account_id, body, client_order_ref)
        except (ResponseError, ValueError) as exc:
            raise OrderOutcomeUnknown(
                f"SnapTrade accepted the placement but its answer is unreadable ({self._redactor.text(str(exc))}): "
                f"{UNKNOWN_HINT}",
                {"broker": dict(body)},
            ) from None

    # --- orders --------------------------------------------------------------------------
    def _order_records(self, account_id: str, state: str, days: int) -> list[Mapping[str, Any]]:
        with self._reading("list orders", ErrorCode.ACCOUNT_NOT_FOUND):
            body = self._call(
                self._api.sdk.account_information.get_user_account_orders, account_id=account_id, state=state, days=days
            )
            return parsing.items(body)

    def get_orders(self, account_id: str, state: str = "all", days: int = 30) -> list[BrokerOrder]:
        if state not in ORDER_STATES:
            raise TradeError(ErrorCode.VALIDATION_ERROR, "state must be one of all, open, executed",
                             {"state": str(state)[:40]})
        records = self._order_records(account_id, state, min(max(int(days), 1), MAX_DAYS))
        with self._reading("read orders"):
            return [parsing.order(account_id, r) for r in records]

    def get_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        with self._reading("get the order", ErrorCode.ORDER_NOT_FOUND):
            body = self._call(
                self._api.sdk.account_information.get_user_account_order_detail,
                account_id=account_id, brokerage_order_id=brokerage_order_id,
            )
            if not isinstance(body, Mapping):
                raise ResponseError("order detail is not an object")
            return parsing.order(account_id, body)

    def cancel_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        details = {"account_id": account_id, "brokerage_order_id": brokerage_order_id}
        try:
            with self._reading("cancel the order", ErrorCode.ORDER_NOT_FOUND):
                self._call(self._api.sdk.trading.cancel_order, account_id=account_id,
                           brokerage_order_id=brokerage_order_id)
        except TradeError as exc:
            if exc.details.get("http_status") == 400:
                raise TradeError(ErrorCode.ORDER_NOT_CANCELABLE,
                                 f"SnapTrade refused the cancel: {exc.details.get('detail', exc.message)}",
                                 {**details, **exc.details}) from None
            raise
        try:
            return self.get_order(account_id, brokerage_order_id)
        except TradeError as exc:
            raise TradeError(
                ErrorCode.BROKER_UNAVAILABLE,
                f"SnapTrade accepted the cancel request, but the order could not be re-read ({exc.message}); "
                "ask for its status again",
                details,
            ) from None

    def find_order_by_ref(self, lookup: OrderLookup) -> BrokerOrder | None:
        """Our order in SnapTrade's list; two or more matches raise instead of guessing."""
        if lookup.brokerage_order_id:
            try:
                found = self.get_order(lookup.account_id, lookup.brokerage_order_id)
            except TradeError as exc:
                if exc.code is ErrorCode.ORDER_NOT_FOUND:
                    return None
                raise
            return found.model_copy(update={"client_order_ref": lookup.client_order_ref})
        days = lookback_days(lookup, datetime.now(UTC))
        if days is None:
            log.warning("order %s was submitted more than %d days ago; SnapTrade lists no older orders",
                        lookup.client_order_ref, MAX_DAYS)
            return None
        matched = candidates(lookup, self._order_records(lookup.account_id, "all", days))
        if len(matched) > 1:
            ids = sorted(str(r.get("brokerage_order_id")) for r in matched)
            log.warning("order %s matches %d SnapTrade orders %s: not guessing, left unsettled",
                        lookup.client_order_ref, len(ids), ids)
            raise TradeError(
                ErrorCode.BROKER_ERROR,
                f"{len(ids)} SnapTrade orders match this order; it is left unsettled for a person to resolve",
                {"client_order_ref": lookup.client_order_ref, "brokerage_order_ids": ids},
            )
        if not matched:
            return None
        with self._reading("read the order"):
            return parsing.order(lookup.account_id, matched[0], lookup.client_order_ref)
