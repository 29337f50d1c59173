"""Pre-trade checks that fit the instrument: which securities a broker trades, and how an order's
funds are checked.

* Stocks in the account's currency and long options: the cost (for an option the premium x the
  multiplier, plus commission) against buying power, as before.
* Futures, and options sold: the broker's what-if initial-margin change against the account's
  available funds. A future's notional is not what it costs: 1 ES at 5,000 is 250,000 of exposure
  and about 16,000 of initial margin.
* A stock in another currency than the account's (VOD in GBP): the what-if initial-margin change,
  which IB states in the account's base currency, so no amounts in two currencies are compared.
"""

from __future__ import annotations

from decimal import Decimal

from brokers.errors import ErrorCode, TradeError
from brokers.instruments import InstrumentFields, SecType
from brokers.models import OrderRequest, OrderSide
from brokers.records import AccountBalance, BrokerCapabilities, BrokerPreview
from services import validation as checks
from services.validation import RiskAssessment


def check_instrument_supported(order: InstrumentFields, capabilities: BrokerCapabilities, provider: str) -> None:
    """Refused before anything is stored: a security type or listing choice the broker's API does not offer."""
    sec_type = order.instrument.sec_type
    if sec_type.value not in capabilities.sec_types:
        raise TradeError(
            ErrorCode.UNSUPPORTED_ORDER,
            f"{provider} orders through this module cannot trade sec_type {sec_type.value}; supported: "
            f"{', '.join(sorted(capabilities.sec_types))}",
            {"sec_type": sec_type.value, "supported": sorted(capabilities.sec_types)},
        )
    named = [name for name in ("exchange", "currency") if getattr(order, name) is not None]
    if named and not capabilities.listing_choice:
        raise TradeError(
            ErrorCode.UNSUPPORTED_ORDER,
            f"{provider} does not let an order choose the listing ({', '.join(named)}); leave "
            f"{' and '.join(named)} out to trade the listing the broker resolves for the ticker",
            {"fields": named},
        )


def _margin_based(order: OrderRequest, preview: BrokerPreview, balance: AccountBalance) -> bool:
    sec_type = order.instrument.sec_type
    if sec_type is SecType.FUTURE or (sec_type is SecType.OPTION and order.side is OrderSide.SELL):
        return True
    return sec_type is SecType.STOCK and preview.currency != balance.currency


def check_funds(
    order: OrderRequest, preview: BrokerPreview, risk: RiskAssessment, balance: AccountBalance
) -> str | None:
    """Run the funds check that fits the instrument; the name of the check that ran (None: none applied)."""
    if not _margin_based(order, preview, balance):
        buying_power = balance.buying_power if balance.buying_power is not None else balance.cash
        risk.buying_power = buying_power
        risk.funds_currency = balance.currency
        checks.check_buying_power(order.side, risk.estimated_total, buying_power)
        if order.side is not OrderSide.BUY:
            return None
        return "option_premium" if order.instrument.sec_type is SecType.OPTION else "buying_power"
    if preview.currency != balance.currency:
        risk.warnings.append(f"the funds check uses the broker's initial margin in {balance.currency}")
    available = balance.available_funds if balance.available_funds is not None else balance.buying_power
    change = preview.margin_impact.get("init_margin_change")
    risk.buying_power = available
    risk.funds_currency = balance.currency
    risk.initial_margin_change = change
    if change is not None and change <= 0:
        return "initial_margin"  # the order frees margin (closing a position): nothing to fund
    if change is None:
        raise TradeError(ErrorCode.INSUFFICIENT_FUNDS,
                         "the broker's what-if gave no initial-margin change, so the order's margin cannot be checked")
    if available is None:
        raise TradeError(ErrorCode.INSUFFICIENT_FUNDS, "the account's available funds are not available")
    if change > available:
        raise TradeError(
            ErrorCode.INSUFFICIENT_FUNDS,
            f"the order needs {balance.currency} {change:,.2f} of initial margin; the account has "
            f"{balance.currency} {available:,.2f} of available funds",
            {"initial_margin_change": str(change), "available_funds": str(available), "currency": balance.currency},
        )
    return "initial_margin"


def margin_figures(preview: BrokerPreview, currency: str | None) -> dict[str, str | None] | None:
    """The what-if's margin figures as a preview returns them (None when the broker gave none)."""
    impact = preview.margin_impact
    names = {
        "initial_before": "init_margin_before", "initial_change": "init_margin_change",
        "initial_after": "init_margin_after", "maintenance_before": "maint_margin_before",
        "maintenance_change": "maint_margin_change", "maintenance_after": "maint_margin_after",
    }
    figures: dict[str, str | None] = {name: _text(impact.get(key)) for name, key in names.items()}
    if all(value is None for value in figures.values()):
        return None
    return {**figures, "currency": currency}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
