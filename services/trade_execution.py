"""TradeExecutionService: preview, confirm, execute exactly once, track.

Synchronous on purpose: the platform's scripts call it from plain code, and async
callers (MCP) run it in a worker thread.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from brokers.base import BrokerAdapter
from brokers.errors import BrokerRefused, ErrorCode, OrderOutcomeUnknown, TradeError
from brokers.models import BrokerProvider, OrderRequest, OrderStatus, canonical_ticker
from brokers.records import AccountBalance, BrokerAccount, BrokerOrder, Position, Quote, SymbolMatch
from brokers.user_context import acting_for, current_user_email, parse_user_email, scoped_to
from db.engine import transaction
from services import confirmation
from services.account_label import account_label
from services.background import Background
from services.confirmation import ExecutablePreview
from services.contract_api import PlatformContract
from services.execute_path import ExecutePath, Intent
from services.execution_gate import ExecutionGate, parse_preview_id
from services.instrument_quotes import quote_for, quote_target
from services.market_data import MarketDataReads
from services.modification import Modifications
from services.modification_api import ModificationApi
from services.notional import NotionalOrder, parse_order_or_notional, resolve_notional
from services.order_set_execute import SetExecution, simulated_set
from services.order_sets import OrderSets
from services.order_store import OrderStore, new_event
from services.order_updates import record_report
from services.preview import assess, preview_row
from services.preview_record import record_preview
from services.queries import OrderQueries
from services.reconcile_schedule import LoopIntervals, ReconcileSchedule
from services.reconciliation import ReconcilePolicy, Reconciler, Scope
from services.reports import BrokerErrorEntry, ReconcileReport, TradeableAccounts
from services.results import OrderView, PreviewView
from services.routing import AdapterRouter
from services.structured_errors import structured as _guard
from services.validation import RiskLimits
from settings import Settings
from telemetry.correlation import current_correlation
from telemetry.metrics import observe_order_outcome

log = logging.getLogger(__name__)
T = TypeVar("T")
Checkpoint = Callable[[str], None]
EXECUTE_CHECKPOINTS = ("before_intent_commit", "after_intent_commit", "after_entry_sent", "after_broker_call",
                       "before_outcome_commit")
"""Named points of the execute path where tests inject faults (a crash, a database outage)."""



class TradeExecutionService(PlatformContract, MarketDataReads, OrderSets, ModificationApi):
    _guarded = staticmethod(_guard)
    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        adapters: Sequence[BrokerAdapter],
        *,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.settings = settings
        self.store = OrderStore(session_factory)
        self.router = AdapterRouter(adapters)
        self.limits = RiskLimits(
            max_order_quantity=settings.max_order_quantity,
            max_order_notional=settings.max_order_notional,
            max_position_weight=settings.max_position_weight,
            price_band_pct=settings.price_band_pct,
        )
        self._checkpoint = checkpoint or (lambda _point: None)
        self.gate = ExecutionGate(settings, self.router, self.limits)
        self.execution = ExecutePath(settings, _engine_of(session_factory), self.store, self.gate, self._checkpoint)
        self.modifications = Modifications(settings, self.store, self.router, self.gate, self.limits)
        self.reconciler = Reconciler(self.store, self.router, ReconcilePolicy.of(settings))
        self.sets = SetExecution(self.execution, self.reconciler, self._checkpoint)
        self.background = Background()
        """The one worker for everything off the caller's path (services/background.py); closed in close()."""
        self.reconcile_schedule = ReconcileSchedule(self.background, self._reconcile_scoped)
        self.gate.blockers.append(self._startup_block_reason)
        self.queries = OrderQueries(self.store, self.router, self.reconciler)
        for adapter in self.router.adapters:
            adapter.set_order_update_handler(self.handle_order_update)
            adapter.set_reconnect_handler(self.reconcile_schedule.request_run)

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> ReconcileReport:
        """Settle orders a previous process left SUBMITTING/UNKNOWN; executes wait until this has succeeded."""
        return self.reconcile_schedule.run_startup()

    def start_continuous_reconciliation(self) -> None:
        """For long-running servers (MCP over HTTP, the ops API): in-flight checks and a working-orders poll."""
        s = self.settings
        self.reconcile_schedule.start_loops(LoopIntervals(
            in_flight_every=s.reconcile_in_flight_interval_seconds,
            in_flight_min_age=s.reconcile_in_flight_threshold_seconds,
            poll_every=s.reconcile_poll_interval_seconds,
        ))

    def _startup_block_reason(self) -> str | None:
        if not self.reconcile_schedule.looping:
            self.reconcile_schedule.retry_startup_if_due()
        return self.reconcile_schedule.startup.block_reason()

    def close(self) -> None:
        """Stop the background worker (its running job finishes, queued ones are dropped), then the adapters."""
        for adapter in self.router.adapters:
            adapter.set_order_update_handler(None)
            adapter.set_reconnect_handler(None)
        self.background.close()
        for adapter in self.router.adapters:
            adapter.close()

    # --- read-only broker calls --------------------------------------------------------
    def tradeable_accounts(self) -> TradeableAccounts:
        """One broker's outage does not hide the others: its failure is an entry, not the whole answer."""

        def run() -> TradeableAccounts:
            accounts: list[BrokerAccount] = []
            errors: list[BrokerErrorEntry] = []
            for adapter in self.router.adapters:
                try:
                    fractional = adapter.capabilities.fractional_quantities
                    accounts.extend(a.model_copy(update={"fractional_shares": fractional})
                                    for a in adapter.list_accounts())
                except TradeError as exc:
                    log.warning("%s could not list accounts: %s", adapter.provider.value, exc.message)
                    errors.append(BrokerErrorEntry(provider=adapter.provider.value, error_code=exc.code.value,
                                                   message=exc.message))
            return TradeableAccounts(accounts=accounts, broker_errors=errors)

        return _guard(run)

    def list_tradeable_accounts(self) -> list[BrokerAccount]:
        """The accounts of the brokers that answered; an error only when none did (see `tradeable_accounts`)."""
        report = self.tradeable_accounts()
        if report.broker_errors and not report.accounts:
            first = report.broker_errors[0]
            raise TradeError(
                ErrorCode(first.error_code), first.message,
                {"broker_errors": [e.as_json() for e in report.broker_errors]},
            )
        return report.accounts

    def search_symbol(self, account_id: str, ticker: str) -> list[SymbolMatch]:
        return _guard(lambda: self.router.for_account(account_id).search_symbol(account_id, canonical_ticker(ticker)))

    def get_quote(self, account_id: str, ticker: Any, **instrument: Any) -> Quote:
        """`instrument`: preview_trade's instrument arguments (sec_type, exchange, currency, expiry, strike, right,
        multiplier), parsed by the same rules; `ticker` may be a QuoteTarget the caller already parsed."""
        return _guard(lambda: quote_for(self.router, account_id, quote_target(ticker, instrument)))

    def get_account_balance(self, account_id: str) -> AccountBalance:
        return _guard(lambda: self.router.for_account(account_id).get_account_balance(account_id))

    def get_positions(self, account_id: str) -> list[Position]:
        return _guard(lambda: self.router.for_account(account_id).get_positions(account_id))

    # --- preview -----------------------------------------------------------------------
    def preview_trade(
        self,
        account_id: Any,
        ticker: Any,
        side: Any,
        quantity: Any = None,
        order_type: Any = "Market",
        limit_price: Any = None,
        stop_price: Any = None,
        time_in_force: Any = "Day",
        **order_options: Any,
    ) -> PreviewView:
        """`order_options`: trailing_amount, trailing_percent, trail_stop_price, limit_offset, outside_rth
        (issue 16; only the order types that use them accept them); `notional`: a cash amount instead of a
        quantity (services/notional.py)."""
        request = {
            "account_id": account_id, "ticker": ticker, "side": side, "quantity": quantity,
            "order_type": order_type, "limit_price": limit_price, "stop_price": stop_price,
            "time_in_force": time_in_force, **{k: v for k, v in order_options.items() if v is not None},
        }
        try:
            order = _guard(lambda: parse_order_or_notional(**request))
        except TradeError as exc:
            self._audit_preview_refused(current_correlation(), exc, request)
            raise
        return self.preview_request(order)

    def preview_request(self, order: OrderRequest | NotionalOrder, *, user_email: Any = None) -> PreviewView:
        """Preview terms already parsed by `parse_order_request` (the MCP tools parse them at their edge).
        `user_email`: the platform user it is made for (stored; only they may execute it)."""
        user = parse_user_email(user_email)
        with scoped_to(user):
            return self._preview(order)

    def _preview(self, asked: OrderRequest | NotionalOrder) -> PreviewView:
        correlation = current_correlation()

        def run() -> PreviewView:
            adapter = self.router.for_account(asked.account_id)
            order = resolve_notional(asked, adapter) if isinstance(asked, NotionalOrder) else asked
            broker_preview, risk = assess(order, adapter, self.limits)
            if broker_preview.quantity is not None:  # the broker chose the units (a cash amount)
                order = order.model_copy(update={"quantity": broker_preview.quantity})
            risk.warnings.extend(confirmation.execution_warnings(self.settings, adapter, order.account_id))
            row = preview_row(order, adapter, broker_preview, risk, self.settings.preview_ttl_seconds)
            row.orders_enabled = self.settings.orders_enabled
            row.trading_mode = self.settings.trading_mode.value
            row.user_email = current_user_email()  # the platform user this call acts for (contract_api)
            row.broker_preview_data = {
                **(row.broker_preview_data or {}), "account_label": account_label(adapter, order.account_id),
                # the summary says executing it only records a SIMULATED order
                "execute_simulated": not self.settings.orders_enabled,
            }
            record_preview(self.execution.engine, row, correlation)  # row + event: one statement, one commit
            return PreviewView.of(row)

        try:
            return _guard(run)
        except TradeError as exc:
            terms = asked.terms if isinstance(asked, NotionalOrder) else asked
            self._audit_preview_refused(correlation, exc, terms.model_dump(mode="json"))
            raise

    def _audit_preview_refused(self, correlation: uuid.UUID, exc: TradeError, request: dict[str, Any]) -> None:
        account_id = request.get("account_id")
        self.store.audit(
            new_event(
                "PREVIEW_REFUSED", correlation_id=correlation,
                account_id=account_id if isinstance(account_id, str) else None,
                error=exc, payload={"error": exc.to_dict(), "request": _safe_request(request)},
            )
        )

    # --- confirmation support (for the MCP layer; see services/confirmation.py) ---
    def executable_preview(self, preview_id: uuid.UUID, *, user_email: Any = None) -> ExecutablePreview:
        """What a human must confirm before `execute_trade`, or the refusal that needs no human.

        Kill switch, orders off (then `simulated` is true), paper mode with a live account, expired or
        used preview, a preview made in another mode, no adapter for its broker: all decided here, by the
        rules the execute path applies; with `user_email`, another user's preview is PREVIEW_NOT_FOUND.
        Read-only: the caller records a refusal it acts on.
        """
        user = parse_user_email(user_email)
        if user is not None:
            _guard(lambda: self._preview_owner(preview_id, user, audit=False))
        return _guard(lambda: self.execution.executable(preview_id))

    def executable_previews(
        self, preview_ids: Sequence[uuid.UUID], *, user_email: Any = None
    ) -> list[confirmation.BasketLeg]:
        """A basket's legs as its confirmation prompt shows them, in order (read-only); with `user_email`,
        another user's preview is shown as unknown."""
        user = parse_user_email(user_email)
        return _guard(lambda: confirmation.basket_legs(self.store, preview_ids, user))

    def record_execute_refusal(self, preview_id: uuid.UUID, error: TradeError) -> None:
        confirmation.record_refusal(self.store, preview_id, error)

    def record_not_confirmed(self, preview_id: uuid.UUID, answer: confirmation.Answer) -> None:
        confirmation.record_not_confirmed(self.store, preview_id, answer)

    # --- execute -----------------------------------------------------------------------
    def execute_trade(self, preview_id: uuid.UUID | str, *, user_email: Any = None) -> OrderView:
        """Exactly once: the intent is committed before the broker is called (see services/execute_path.py).
        With `user_email`, another user's preview is refused as not found (audited)."""
        user = parse_user_email(user_email)
        if user is not None:
            _guard(lambda: self._preview_owner(preview_id, user))
        correlation = current_correlation()
        intent, simulated = _guard(lambda: self.execution.execute(parse_preview_id(preview_id), correlation))
        if simulated is not None:
            observe_order_outcome(simulated.broker_provider, simulated.status)
            return simulated_set(intent) if intent.legs else simulated
        if intent.legs:  # a bracket: every leg once (services/order_set_execute.py)
            return self.sets.place_and_record(intent, correlation)
        with self.reconciler.placing(intent.order.id):
            return self._place_and_record(intent, correlation)

    def _place_and_record(self, intent: Intent, correlation: uuid.UUID) -> OrderView:
        """Steps 3-4: reconciliation in this process leaves the order alone until this returns."""
        self._checkpoint("after_intent_commit")
        outcome, error = self.execution.place(intent)
        self._checkpoint("after_broker_call")
        try:
            view = _guard(lambda: self.execution.record_outcome(intent, correlation, outcome, error))
        except TradeError as exc:
            # The broker call happened; only our bookkeeping failed. Say so: a retry would not be safe.
            observe_order_outcome(intent.preview.broker_provider, OrderStatus.UNKNOWN.value)
            raise OrderOutcomeUnknown(
                "the order was sent to the broker but its outcome could not be recorded "
                f"({exc.code.value}); reconciliation will settle it",
                {"order_id": str(intent.order.id), "client_order_ref": intent.order.client_order_ref},
            ) from None
        observe_order_outcome(view.broker_provider, view.status)
        if outcome is not None:
            self._refresh_later(intent.adapter, intent.preview.account_id, intent.preview.user_email)
        if error is None and view.status == OrderStatus.REJECTED:
            # Same refusal, same answer on every broker: a placement answered "rejected" is an error.
            raise BrokerRefused(
                f"{intent.adapter.provider.value} rejected the order; preview again to place another",
                {"order_id": view.order_id, "status": view.status, "brokerage_order_id": view.brokerage_order_id},
            )
        if error is not None and view.status in (OrderStatus.REJECTED, OrderStatus.FAILED):
            raise TradeError(error.code, error.message, {**error.details, "order_id": view.order_id,
                                                         "status": view.status})
        return view

    def _refresh_later(self, adapter: BrokerAdapter, account_id: str, user_email: str | None) -> None:
        """Best effort and off the caller's path; refreshes asked for while one waits are one refresh."""
        if type(adapter).refresh_after_trade is BrokerAdapter.refresh_after_trade:
            return  # the base hook does nothing: no job to queue (a cost on every execute otherwise)
        self.background.submit(f"refresh:{adapter.provider.value}:{account_id}",
                               lambda: _refresh_quietly(adapter, account_id, user_email))

    # --- tracking ----------------------------------------------------------------------
    def get_orders(
        self, account_id: str | None = None, state: str = "all", days: int = 30, *, user_email: Any = None
    ) -> list[OrderView]:
        """With `user_email`: as that user (their broker credentials), without other users' orders."""
        user = parse_user_email(user_email)
        with scoped_to(user):
            return _guard(lambda: self.queries.list(account_id, state, days, user=user))

    def get_order_status(self, order_id: Any, *, user_email: Any = None) -> OrderView:
        """With `user_email`, another user's order is ORDER_NOT_FOUND (audited)."""
        return _guard(lambda: self.queries.status(order_id, user=parse_user_email(user_email)))

    def cancel_order(self, account_id: Any, order_id: Any = None, *, user_email: Any = None) -> OrderView:
        """Contract form: (account_id, broker's order id). One argument: our order row id (tools, CLI).
        With user_email, another user's order is refused (ORDER_NOT_FOUND, audited)."""
        if order_id is None:
            return _guard(lambda: self.cancel_with_set(account_id, parse_user_email(user_email)))
        return _guard(lambda: self._cancel_by_broker_id(account_id, order_id, parse_user_email(user_email)))

    def _cancel_by_broker_id(self, account_id: Any, broker_order_id: Any, user: str | None) -> OrderView:
        """Our own order is cancelled exactly as by our id (a bracket entry takes its set, exits included)."""
        return self.queries.cancel_at_broker(account_id, broker_order_id, user=user,
                                             cancel_ours=lambda ours: self.cancel_with_set(ours, user))

    def reconcile(self, *, include_active: bool = False) -> ReconcileReport:
        """Settle SUBMITTING/UNKNOWN orders and re-check inferred final statuses; with include_active, also
        refresh working orders from the broker."""
        return self._reconcile_scoped(scope=Scope(active=include_active))

    def _reconcile_scoped(self, *, scope: Scope, wait: bool = True) -> ReconcileReport:
        return _guard(lambda: self.reconciler.run(scope=scope, wait=wait))

    def handle_order_update(self, provider: BrokerProvider, update: BrokerOrder) -> None:
        """Pushed broker events (IBKR) between calls: record fills that arrive after execute returned."""
        try:
            with transaction(self.store.session_factory) as session:
                row = self.store.find_order(session, provider, update)
                if row is None:
                    return
                record_report(session, row, update, event_type="ORDER_UPDATED", correlation=uuid.uuid4(),
                              recheck=self.reconciler.policy.recheck)
        except (IntegrityError, OperationalError):
            log.exception("could not record a pushed order update; reconciliation will pick it up")


def _refresh_quietly(adapter: BrokerAdapter, account_id: str, user_email: str | None) -> None:
    """Best effort and off the caller's path: a slow holdings refresh must not delay the answer."""
    try:
        with acting_for(user_email):  # another thread: the placing user's credentials, said again
            adapter.refresh_after_trade(account_id)
    except Exception as exc:
        log.warning("refresh after trade failed for %s: %s", adapter.provider.value, exc)


def _safe_request(request: dict[str, Any]) -> dict[str, Any]:
    """The refused request for the audit trail, as short strings (NaN and huge values stay storable)."""
    return {k: v if v is None or isinstance(v, bool) else str(v)[:200] for k, v in request.items()}


def _engine_of(session_factory: sessionmaker[Session]) -> Engine:
    bind = session_factory.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory must be bound to an Engine")
    return bind
