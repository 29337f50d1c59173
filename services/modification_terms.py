"""The terms of a modification: what may change, parsed once at the edge, and merged into the order's terms.

A modification changes a working order's quantity, limit price, stop price or trailing distance;
side, ticker, type and time in force stay. The merged order goes through `parse_order_request`, so a
field that does not fit the order type (a limit price on a Market order) is refused by the same rule
that refuses it in a new order, named by its field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from brokers.errors import ErrorCode, TradeError
from brokers.models import ORDER_OPTION_FIELDS, OrderRequest, parse_order_request
from db.models import TradeOrder, TradePreview
from services.plain_numbers import plain_text
from services.set_legs import request_of_row

MODIFIABLE_FIELDS = ("quantity", "limit_price", "stop_price", "trailing_amount", "trailing_percent")
TERM_FIELDS = ("quantity", "limit_price", "stop_price", *ORDER_OPTION_FIELDS)
"""What the stored old and new terms hold (decimal text, or null)."""


@dataclass(frozen=True)
class ModificationTerms:
    """The changes asked for; None: unchanged."""

    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trailing_amount: Decimal | None = None
    trailing_percent: Decimal | None = None

    def given(self) -> dict[str, Decimal]:
        return {name: value for name, value in asdict(self).items() if value is not None}


def _positive(name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{name} must be a number or a decimal string")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{name} must be a number or a decimal string") from None
    if not number.is_finite() or number <= 0:
        raise ValueError(f"{name} must be a finite number greater than zero")
    return number


def parse_modification_terms(**fields: Any) -> ModificationTerms:
    """Every problem at once, each named by its argument; at least one change is required."""
    problems = [{"field": name, "problem": f"unknown argument {name!r}"} for name in fields
                if name not in MODIFIABLE_FIELDS]
    values: dict[str, Decimal] = {}
    for name in MODIFIABLE_FIELDS:
        if fields.get(name) is None:
            continue
        try:
            values[name] = _positive(name, fields[name])
        except ValueError as exc:
            problems.append({"field": name, "problem": str(exc)})
    if not problems and not values:
        problems.append({"field": "order", "problem": "give at least one of " + ", ".join(MODIFIABLE_FIELDS)})
    if problems:
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid modification: {summary}", {"problems": problems})
    return ModificationTerms(**values)


def terms_of(request: OrderRequest) -> dict[str, str | None]:
    """The modifiable terms of an order as exact text (what trade_modifications stores)."""
    return {name: plain_text(getattr(request, name)) for name in TERM_FIELDS}


def with_terms(base: OrderRequest, terms: dict[str, Any]) -> OrderRequest:
    """`base` with its modifiable terms replaced by `terms` (text or Decimal), checked as a new order is."""
    fields = base.model_dump(exclude=set(TERM_FIELDS))
    fields.update({name: terms.get(name) for name in TERM_FIELDS})
    return parse_order_request(**fields)


def current_request(order: TradeOrder, preview: TradePreview) -> OrderRequest:
    """The order's terms now: as previewed, or as the last applied modification left them."""
    base = request_of_row(order, preview)  # a bracket leg's own side, type and price
    if order.quantity is None:
        return base
    options = order.order_options or {}
    return with_terms(base, {"quantity": order.quantity, "limit_price": order.limit_price,
                             "stop_price": order.stop_price, **{k: options.get(k) for k in ORDER_OPTION_FIELDS}})


def modified_request(current: OrderRequest, terms: ModificationTerms) -> OrderRequest:
    """The order with the changes applied; a new trailing amount replaces a percent and the other way round."""
    merged: dict[str, Any] = terms_of(current)
    changes = terms.given()
    if "trailing_amount" in changes:
        merged["trailing_percent"] = None
    if "trailing_percent" in changes:
        merged["trailing_amount"] = None
    merged.update(changes)
    return with_terms(current, merged)


def changes_between(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"field": name, "old": old.get(name), "new": new.get(name)} for name in TERM_FIELDS
            if old.get(name) != new.get(name)]


def describe_changes(changes: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c['field'].replace('_', ' ')} {c['old'] or 'none'} -> {c['new'] or 'none'}" for c in changes)
