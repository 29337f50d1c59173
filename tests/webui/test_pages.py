"""The card's rendering on its own: every figure present, money right-aligned, legs when a preview has them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from services.approvals import ApprovalView
from services.order_store import utcnow
from services.results import PreviewView
from webui.operator import OperatorSession
from webui.pages import Pages, money, quantity, weight


def approval(impact: dict[str, object], **fields: object) -> ApprovalView:
    now = utcnow()
    preview = PreviewView(
        preview_id=str(uuid.uuid4()), account_id="DU111", broker_provider="ibkr", ticker="AAPL", side="BUY",
        quantity=Decimal(10), order_type="Limit", limit_price=Decimal("190.5"), stop_price=None,
        time_in_force="Day", estimated_price=Decimal("190.5"), estimated_commission=Decimal("1.0"),
        estimated_total=Decimal("1906.00"), status="ACTIVE", created_at=now, expires_at=now + timedelta(minutes=5),
        impact=impact, warnings=["outside regular hours"], summary="BUY 10 AAPL", **fields,
    )
    return ApprovalView(
        approval_id=str(uuid.uuid4()), status="PENDING", is_paper=True, account_label="IBKR paper",
        requested_at=now, expires_at=preview.expires_at, decided_at=None, outcome_code=None,
        outcome_message=None, seconds_left=300, preview=preview, order=None,
    )


def test_formats_keep_every_digit() -> None:
    assert money(Decimal("1234567.5")) == "1,234,567.50" and money(Decimal("0.12345")) == "0.12345"
    assert money(None) == "—" and quantity(Decimal("10.500")) == "10.5" and weight("0.0425") == "4.25 %"


def test_card_shows_every_figure_and_the_legs() -> None:
    legs = [
        {"role": "entry", "side": "BUY", "quantity": "10", "order_type": "Limit", "limit_price": "190.50",
         "estimated_notional": "1905.00"},
        {"role": "take_profit", "side": "SELL", "quantity": "10", "order_type": "Limit", "limit_price": "210.00"},
        {"role": "stop_loss", "side": "SELL", "quantity": "10", "order_type": "Stop", "stop_price": "180.00"},
    ]
    view = approval({"position_weight_before": "0.01", "position_weight_after": "0.03", "legs": legs})
    html = Pages("/ui").render("approval.html", 200, approval=view, session=OperatorSession("s", "c" * 64)).body
    text = bytes(html).decode()
    for figure in ("1,906.00", "190.50", "1.00", "1.00 % → 3.00 %", "Warning: outside regular hours", "PAPER",
                   "IBKR paper", "Confirm BUY 10 AAPL (PAPER)", 'value="' + "c" * 64 + '"'):
        assert figure in text, figure
    for role in ("entry", "take_profit", "stop_loss"):
        assert f'data-leg="{role}"' in text
    assert "<script>" not in text.split("</main>")[0]  # no inline script in the page body


def test_a_bracket_preview_shows_its_legs() -> None:
    """PreviewView.legs, as services/set_legs.py builds it for a bracket, is what the page lists."""
    legs = [
        {"role": "entry", "side": "BUY", "quantity": "10", "order_type": "Limit", "limit_price": "190.5",
         "stop_price": None, "estimated_notional": "1905"},
        {"role": "take_profit", "side": "SELL", "quantity": "10", "order_type": "Limit", "limit_price": "196",
         "stop_price": None, "estimated_notional": "1960"},
        {"role": "stop_loss", "side": "SELL", "quantity": "10", "order_type": "Stop", "limit_price": None,
         "stop_price": "186", "estimated_notional": "1860"},
    ]
    view = approval({}, legs=legs)
    text = bytes(Pages("/ui").render("approval.html", 200, approval=view,
                                     session=OperatorSession("s", "c" * 64)).body).decode()
    assert [f'data-leg="{r}"' in text for r in ("entry", "take_profit", "stop_loss")] == [True] * 3
    for figure in ("1960", "1860", "186", "196"):
        assert figure in text, figure
    single = bytes(Pages("/ui").render("approval.html", 200, approval=approval({}, legs=[]),
                                       session=OperatorSession("s", "c" * 64)).body).decode()
    assert "data-leg=" not in single  # a single order has no legs table
