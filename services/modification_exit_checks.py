"""The pre-trade checks of a bracket's exit leg on its new terms (services/modification.py).

An exit sells (or buys back) what its entry trades: it has no holdings or cash check of its own here
(a SELL bracket's BUY exits count against buying power at execute, services/modification_exposure.py),
only the price checks: PRICE_BAND_PCT against a quote of the order's own instrument (VOD on LSE in GBP,
as the preview resolved it), and MAX_ORDER_NOTIONAL on the leg's amount (times the contract multiplier)
in the account's currency, converted at the rate the set's preview was checked with
(services/currency_conversion.py): no rate known and a limit configured is refused, as at preview.
"""

from __future__ import annotations

from decimal import Decimal

from brokers.base import BrokerAdapter
from brokers.models import OrderRequest
from db.models import TradePreview
from services import validation as checks
from services.currency_conversion import stored_conversion
from services.preview import record_conversion
from services.validation import RiskAssessment, RiskLimits


def exit_leg_checks(unfilled: OrderRequest, preview: TradePreview, adapter: BrokerAdapter,
                    limits: RiskLimits) -> RiskAssessment:
    """The checks of the unfilled part of a changed exit leg; raises the first blocking TradeError."""
    quote = adapter.get_quote(unfilled.account_id, unfilled.ticker, instrument=unfilled.instrument)
    reference = quote.reference_price
    checks.check_price_band(unfilled, reference, limits)
    data = preview.broker_preview_data or {}
    conversion = stored_conversion(preview.impact, str(data.get("currency") or quote.currency),
                                   required=limits.max_order_notional is not None)
    price = checks.order_price(unfilled, reference)
    multiplier = Decimal(str(data.get("multiplier") or 1))
    notional = price * unfilled.quantity * multiplier if price is not None else None
    checks.check_notional(conversion.apply(notional), limits)
    risk = RiskAssessment(notional=notional, checks=["price_band", "max_notional"])
    record_conversion(conversion, risk)
    return risk
