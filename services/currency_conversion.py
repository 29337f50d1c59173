"""Amounts of an order priced in another currency than the account's, in the account's currency.

MAX_ORDER_NOTIONAL and position weights are in the account's (base) currency, so an order priced in
GBP in a USD account is converted with the broker's own exchange rate (IB's account summary reports
`ExchangeRate` per currency). No rate known: refused whenever a configured limit needs one, never
compared unconverted. Decimal throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from brokers.errors import ErrorCode, TradeError
from brokers.records import AccountBalance

ONE = Decimal(1)


@dataclass(frozen=True)
class Conversion:
    """From `currency` (the order's) to `account_currency`: account units per unit of `currency` (None: no
    rate is known, allowed only while no limit needs one)."""

    currency: str
    account_currency: str
    rate: Decimal | None = ONE

    @property
    def converts(self) -> bool:
        return self.currency != self.account_currency

    def apply(self, amount: Decimal | None) -> Decimal | None:
        return None if amount is None or self.rate is None else amount * self.rate

    def as_json(self) -> dict[str, str | None]:
        """What the preview stores and shows: the rate used and between which currencies."""
        if not self.converts:
            return {}
        return {"exchange_rate": None if self.rate is None else str(self.rate),
                "account_currency": self.account_currency}

    def note(self, total: Decimal | None) -> str:
        head = f"the order is priced in {self.currency} and the account reports in {self.account_currency}: "
        if self.rate is None:
            return head + (f"no {self.currency} to {self.account_currency} exchange rate is known, so position "
                           "weights are not shown (no MAX_ORDER_NOTIONAL or MAX_POSITION_WEIGHT is configured)")
        converted = self.apply(total)
        figure = "" if converted is None else f" (est. {self.account_currency} {converted:,.2f})"
        return (head + f"MAX_ORDER_NOTIONAL and position weights use the amount converted at the broker's rate of "
                f"{self.rate} {self.account_currency} per {self.currency}{figure}")


def conversion_for(currency: str, balance: AccountBalance, *, required: bool) -> Conversion:
    """The broker's rate from the order's currency to the account's. None known: refused when `required` (a
    configured limit compares in the account's currency), else a conversion without a rate."""
    if currency == balance.currency:
        return Conversion(currency, balance.currency)
    rate = balance.exchange_rates.get(currency)
    if rate is not None and rate > 0:
        return Conversion(currency, balance.currency, rate)
    if not required:
        return Conversion(currency, balance.currency, None)
    raise missing_rate(currency, balance.currency)


def missing_rate(currency: str, account_currency: str) -> TradeError:
    return TradeError(
        ErrorCode.RISK_LIMIT,
        f"no {currency} to {account_currency} exchange rate is known (the broker's account summary reports no "
        f"ExchangeRate for {currency}), so this {currency} order cannot be checked against MAX_ORDER_NOTIONAL "
        f"and position weights in {account_currency}: refused, nothing placed",
        {"missing_rate": f"{currency}/{account_currency}", "currency": currency, "account_currency": account_currency},
    )


def stored_conversion(impact: dict[str, Any] | None, currency: str, *, required: bool) -> Conversion:
    """The conversion a stored preview was checked with (its order's `currency` to the account's). It had no
    rate: refused when `required` (a configured limit compares in the account's currency), as at preview."""
    rate = stored_rate(impact)
    account_currency = str((impact or {}).get("account_currency") or currency)
    if rate is None and required:
        raise missing_rate(currency, account_currency)
    return Conversion(currency, account_currency, rate)


def stored_rate(impact: dict[str, Any] | None) -> Decimal | None:
    """The rate a preview was checked with: 1 when it needed none, None when it had none to use."""
    impact = impact or {}
    value = impact.get("exchange_rate")
    if value is None:
        return None if impact.get("account_currency") else ONE
    return Decimal(str(value))
