"""Decimals as the service's results show them: plain text, no exponent, no padding zeros from a column scale."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

_ONE = Decimal(1)


def plain_decimal(value: Decimal) -> Decimal:
    """3.00000000 -> 3, 0E-8 -> 0, 1E+2 -> 100: the value without scale padding or a positive exponent.

    A whole number is quantized to exponent 0 (a no-op for 3 or 0, 1E+2 -> 100); testing that is half
    the cost of reading the exponent through as_tuple(), and every result view does it a few dozen times."""
    if not value.is_finite():
        return value
    reduced = value.normalize()
    if reduced == reduced.to_integral_value():
        return reduced.quantize(_ONE)
    return reduced


def plain_text(value: Decimal | None) -> str | None:
    """The decimal as JSON text, never in scientific notation."""
    return None if value is None else format(plain_decimal(value), "f")


def plain_json_number(value: Any) -> Any:
    """A stored numeric string ("0.00095000", "1.5E-7") in plain form; anything else unchanged."""
    if isinstance(value, Decimal):
        return plain_text(value)
    if isinstance(value, str):
        try:
            return plain_text(Decimal(value))
        except InvalidOperation:
            return value
    return value
