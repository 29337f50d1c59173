"""The refusals of the execute path: every rule that can stop an order before it is sent.

The same rules answer `executable_preview` (before a human is asked) and `execute_trade`
(inside the intent transaction), so a human is never asked to confirm an order that
would then be refused for a reason that needed no human.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from brokers.base import BrokerAdapter
from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderRequest, OrderSide, parse_order_request
from db.direct import Statements
from db.models import PreviewStatus, TradePreview
from services import validation as checks
from services.currency_conversion import stored_conversion
from services.execute_sql import open_exposure
from services.preview import held_of
from services.routing import AdapterRouter
from services.validation import RiskLimits
from settings import Settings, TradingMode

log = logging.getLogger(__name__)


def parse_preview_id(value: Any) -> uuid.UUID:
    """A preview id in canonical form only: what is confirmed must be exactly what is executed."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        parsed = uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != value.lower():
        raise TradeError(
            ErrorCode.PREVIEW_NOT_FOUND, "preview_id is not a valid preview id (a canonical UUID)",
            {"preview_id": str(value)[:80]},
        )
    return parsed


def request_of(preview: TradePreview) -> OrderRequest:
    return parse_order_request(
        account_id=preview.account_id, ticker=preview.ticker, side=preview.side, quantity=preview.quantity,
        order_type=preview.order_type, limit_price=preview.limit_price, stop_price=preview.stop_price,
        time_in_force=preview.time_in_force, **(preview.order_options or {}),
        **((preview.broker_preview_data or {}).get("instrument") or {}),  # the instrument as confirmed
    )


def order_exists_error(preview_id: uuid.UUID, order_id: Any, status: str | None) -> TradeError:
    """ALREADY_EXECUTED worded by what exists: a SIMULATED order was never sent, so it is not called executed."""
    sent = " (simulated: nothing was sent to the broker)" if status == "SIMULATED" else ""
    return TradeError(
        ErrorCode.ALREADY_EXECUTED,
        f"an order already exists for this preview: order_id {order_id or 'unknown'}, status {status or 'unknown'}"
        f"{sent}; report it to the human (get_order_status) and preview again only if they ask for an additional "
        "order",
        {"preview_id": str(preview_id), "order_id": str(order_id) if order_id else None, "status": status},
    )


def not_active_refusal(
    preview_id: uuid.UUID, preview_status: str | None, expired: bool, order_id: Any, order_status: Any
) -> TradeError:
    """Why a preview could not be consumed, from what its row says."""
    details: dict[str, Any] = {"preview_id": str(preview_id)}
    if preview_status is None:
        return TradeError(
            ErrorCode.PREVIEW_NOT_FOUND,
            "no preview has this id (well-formed but unknown): call preview_trade and use the preview_id it returns",
            details,
        )
    if preview_status in (PreviewStatus.EXECUTED, PreviewStatus.SIMULATED) or order_id is not None:
        status = str(order_status) if order_status else str(preview_status)
        return order_exists_error(preview_id, order_id, status)
    return TradeError(
        ErrorCode.PREVIEW_EXPIRED, "the preview has expired; preview the trade again and ask the human again",
        details,
    )


class ExecutionGate:
    def __init__(self, settings: Settings, router: AdapterRouter, limits: RiskLimits) -> None:
        self.settings = settings
        self.router = router
        self.limits = limits
        self.blockers: list[Callable[[], str | None]] = []
        """Further reasons trading is off right now (e.g. start-up reconciliation not completed)."""

    def refuse_if_blocked(self, preview_id: uuid.UUID | None) -> None:
        """Kill switch, live-trading rules and the blockers; a check that cannot be made means trading is off."""
        try:
            reason = self.settings.trading_block_reason() or next(filter(None, (b() for b in self.blockers)), None)
        except Exception as exc:
            log.exception("the trading block check failed")
            reason = f"the kill-switch check failed ({type(exc).__name__}); trading is off until it can be made"
        if reason:
            raise TradeError(ErrorCode.TRADING_DISABLED, reason, {"preview_id": str(preview_id)})

    def check_preview(self, preview: TradePreview) -> BrokerAdapter:
        """Mode, routing, paper/live and limits: refusals that need no human and no broker. Returns the adapter."""
        details = {"preview_id": str(preview.id), "account_id": preview.account_id}
        mode = self.settings.trading_mode.value
        if preview.orders_enabled is not self.settings.orders_enabled or preview.trading_mode != mode:
            raise TradeError(
                ErrorCode.TRADING_DISABLED,
                f"the preview was made with ORDERS_ENABLED={_flag(preview.orders_enabled)} and TRADING_MODE="
                f"{preview.trading_mode or 'unknown'}, this process runs with ORDERS_ENABLED="
                f"{_flag(self.settings.orders_enabled)} and TRADING_MODE={mode}: nothing was sent; preview again",
                {**details, "preview_mode": {"orders_enabled": preview.orders_enabled,
                                             "trading_mode": preview.trading_mode},
                 "process_mode": {"orders_enabled": self.settings.orders_enabled, "trading_mode": mode}},
            )
        adapter = self.router.for_provider(preview.broker_provider)
        paper_only = self.settings.orders_enabled and self.settings.trading_mode is TradingMode.PAPER
        if paper_only and not adapter.is_paper_account(preview.account_id):
            raise TradeError(
                ErrorCode.TRADING_DISABLED,
                f"TRADING_MODE=paper: account {preview.account_id} is not a paper account, so no order is placed",
                {**details, "trading_mode": "paper"},
            )
        checks.check_quantity_limit(preview.quantity, self.limits)
        if preview.estimated_total is not None:
            conversion = stored_conversion(  # the rate the preview was checked with
                preview.impact, str(preview.broker_preview_data.get("currency")),
                required=self.limits.max_order_notional is not None)
            notional = abs(preview.estimated_total - (preview.estimated_commission or Decimal(0)))
            checks.check_notional(conversion.apply(notional), self.limits)
        return adapter

    def check_holdings(self, tx: Statements, preview: TradePreview, adapter: BrokerAdapter,
                       modified_quantity: Decimal | None = None, side: str | None = None) -> None:
        """Shares held minus working sells cover a sell; buying power minus working buys covers a buy.

        Runs inside the intent transaction, after this order's row is inserted (so it counts
        itself), under the advisory lock of the account and side that the intent statement took
        (execute_sql.consume_preview), released at commit: two executes for the same account
        cannot both pass on the same shares or cash. A change of a working order (services/
        modification.py) takes the same lock after its claim, so the order counts at its new terms
        too (execute_sql._OPEN_EXPOSURE counts a change sent without an answer); `modified_quantity`
        is then its new quantity, and `side` the side of the changed order when it is not the preview's (a
        bracket's exit leg trades the other side).
        """
        open_sells, open_buys = open_exposure(tx, preview)
        which = "this one included" if modified_quantity is None else "this one included, as modified"
        quantity = preview.quantity if modified_quantity is None else modified_quantity
        if (side or preview.side) == OrderSide.SELL.value:
            held, _ = held_of(adapter.get_positions(preview.account_id), preview.ticker, preview.broker_symbol_id)
            if open_sells > held:
                raise TradeError(
                    ErrorCode.INSUFFICIENT_POSITION,
                    f"cannot sell {_plain(quantity)} {preview.ticker}: the account holds "
                    f"{_plain(held)} and this module's working sell orders ({which}) total {_plain(open_sells)}",
                    {"held": str(held), "open_sell_quantity": str(open_sells), "preview_id": str(preview.id)},
                )
            return
        balance = adapter.get_account_balance(preview.account_id)
        buying_power = balance.buying_power if balance.buying_power is not None else balance.cash
        if buying_power is None or open_buys > buying_power:
            raise TradeError(
                ErrorCode.INSUFFICIENT_FUNDS,
                f"buying power {_plain(buying_power)} does not cover this module's working buy orders "
                f"({which}) of {open_buys:.2f}",
                {"buying_power": _plain(buying_power), "open_buy_value": str(open_buys),
                 "preview_id": str(preview.id)},
            )


def _flag(value: bool | None) -> str:
    return "unknown" if value is None else str(value).lower()


def _plain(value: Decimal | None) -> str:
    return "unknown" if value is None else format(value.normalize(), "f")
