"""SnapTrade JSON (as the SDK hands it over, unvalidated) to the module's models.

Numbers arrive as strings (orders, positions) or JSON floats (balances, impact,
quotes); both become Decimal here, floats through their shortest repr so 190.1 stays
190.1. A malformed number is an error, never a silent zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from brokers.models import BrokerProvider, OrderSide
from brokers.records import AccountBalance, BrokerAccount, BrokerOrder, Position, Quote, SymbolMatch
from brokers.snaptrade.status import common_status

ZERO = Decimal(0)
EQUITY_TYPES = frozenset({"cs", "et", "ad", "ps", "etf", "equity", "stock"})


class ResponseError(ValueError):
    """SnapTrade answered 2xx with something this adapter cannot read."""


def dec(value: Any, field: str = "number") -> Decimal | None:
    """Decimal from a SnapTrade number (str, int or float); None for null or empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ResponseError(f"{field} is a boolean, not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ResponseError(f"{field} is not finite")
        return Decimal(repr(value))
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise ResponseError(f"{field} is not a number: {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise ResponseError(f"{field} is not finite")
    return number


def when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: Any, key: str | None = None) -> list[Mapping[str, Any]]:
    """A list of objects, from a bare list or from `{key: [...]}`."""
    if key is not None and isinstance(value, Mapping):
        value = value.get(key)
    if not isinstance(value, list):
        raise ResponseError(f"expected a list{f' under {key!r}' if key else ''}")
    return [v for v in value if isinstance(v, Mapping)]


def currency_code(value: Any, default: str = "USD") -> str:
    if isinstance(value, str) and value:
        return value
    code = obj(value).get("code")
    return str(code) if code else default


def side_of(action: Any) -> OrderSide | None:
    text = str(action or "").upper()
    if text.startswith("BUY"):
        return OrderSide.BUY
    if text.startswith("SELL"):
        return OrderSide.SELL
    return None


def account(item: Mapping[str, Any]) -> BrokerAccount:
    """One entry of GET /accounts/all."""
    return BrokerAccount(
        account_id=str(item["id"]),
        provider=BrokerProvider.SNAPTRADE,
        name=item.get("display_name") or item.get("name"),
        number=item.get("masked_account_number") or item.get("number"),
        institution=item.get("institution_name"),
        currency=currency_code(obj(item.get("net_value")).get("currency")),
        is_paper=item.get("is_paper") is True,
    )


def symbol_match(item: Mapping[str, Any]) -> SymbolMatch:
    """A UniversalSymbol."""
    kind = str(obj(item.get("type")).get("code") or "").lower()
    return SymbolMatch(
        ticker=str(item.get("symbol") or item.get("raw_symbol") or ""),
        broker_symbol_id=str(item["id"]),
        description=item.get("description"),
        sec_type="STK" if kind in EQUITY_TYPES or not kind else kind.upper(),
        exchange=obj(item.get("exchange")).get("code"),
        currency=currency_code(item.get("currency")),
    )


def quote(ticker: str, body: Any) -> Quote | None:
    """The entry for `ticker` from GET /accounts/{id}/quotes, or None when absent."""
    for item in items(body):
        sym = obj(item.get("symbol"))
        if str(sym.get("symbol") or sym.get("raw_symbol") or "").upper() != ticker.upper():
            continue
        return Quote(
            ticker=ticker,
            bid=dec(item.get("bid_price"), "bid_price"),
            ask=dec(item.get("ask_price"), "ask_price"),
            last=dec(item.get("last_trade_price"), "last_trade_price"),
            currency=currency_code(sym.get("currency")),
        )
    return None


def balance(account_id: str, body: Any, currency: str, positions: list[Position] | None) -> AccountBalance:
    """GET balances (one entry per currency); net liquidation only when every position is in that currency."""
    entries = items(body)
    chosen = next((e for e in entries if currency_code(e.get("currency"), "") == currency), None)
    if chosen is None and len(entries) == 1:
        chosen = entries[0]
    if chosen is None:
        return AccountBalance(account_id=account_id, currency=currency)
    code = currency_code(chosen.get("currency"), currency)
    cash = dec(chosen.get("cash"), "cash")
    net = None
    if cash is not None and positions is not None and all(
        p.currency == code and p.market_value is not None for p in positions
    ):
        net = cash + sum((p.market_value for p in positions if p.market_value is not None), ZERO)
    return AccountBalance(
        account_id=account_id, currency=code, cash=cash,
        buying_power=dec(chosen.get("buying_power"), "buying_power"), net_liquidation=net,
    )


def positions(account_id: str, body: Any) -> list[Position]:
    """GET /accounts/{id}/positions/all: numbers are strings; cost_basis is per share."""
    out: list[Position] = []
    for item in items(body, "results"):
        instrument = obj(item.get("instrument"))
        units = dec(item.get("units"), "units")
        if units is None or units == 0:
            continue
        price = dec(item.get("price"), "price")
        out.append(
            Position(
                account_id=account_id,
                ticker=str(instrument.get("symbol") or instrument.get("raw_symbol") or ""),
                quantity=units,
                broker_symbol_id=str(instrument["id"]) if instrument.get("id") else None,
                average_cost=dec(item.get("cost_basis"), "cost_basis"),
                market_price=price,
                market_value=None if price is None else units * price,
                currency=currency_code(item.get("currency") or instrument.get("currency")),
            )
        )
    return out


def order(account_id: str, record: Mapping[str, Any], client_order_ref: str | None = None) -> BrokerOrder:
    """An AccountOrderRecord, with the status mapped through the one table."""
    oid = record.get("brokerage_order_id")
    if not oid:
        raise ResponseError("order record has no brokerage_order_id")
    raw_status = str(record.get("status") or "NONE")
    total = dec(record.get("total_quantity"), "total_quantity")
    filled = dec(record.get("filled_quantity"), "filled_quantity") or ZERO
    status = common_status(raw_status, filled)
    remaining = dec(record.get("open_quantity"), "open_quantity")
    if remaining is None and total is not None:
        remaining = max(total - filled - (dec(record.get("canceled_quantity"), "canceled_quantity") or ZERO), ZERO)
    sym = obj(record.get("universal_symbol"))
    return BrokerOrder(
        account_id=account_id,
        brokerage_order_id=str(oid),
        status=status,
        raw_status=raw_status,
        client_order_ref=client_order_ref,
        ticker=str(sym["symbol"]) if sym.get("symbol") else None,
        side=side_of(record.get("action")),
        order_type=str(record["order_type"]) if record.get("order_type") else None,
        quantity=total,
        filled_quantity=filled,
        remaining_quantity=remaining,
        average_fill_price=dec(record.get("execution_price"), "execution_price") if filled > 0 else None,
        limit_price=dec(record.get("limit_price"), "limit_price"),
        stop_price=dec(record.get("stop_price"), "stop_price"),
        placed_at=when(record.get("time_placed")),
        raw=dict(record),
    )
