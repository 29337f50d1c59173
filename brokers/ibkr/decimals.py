"""The float/Decimal boundary with ib_async.

ib_async speaks float (and a few numeric strings); the rest of the project speaks Decimal.
Converting through the shortest repr keeps 190.01 as 190.01 instead of its binary expansion,
and IB's "unset" sentinels (1.797e308, 2**31-1, NaN, "") become None rather than huge numbers.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

UNSET_DOUBLE_THRESHOLD = 1e300
"""IB writes 'no value' as sys.float_info.max (1.797e308); anything this large is that sentinel."""

UNSET_INTEGER = 2**31 - 1


def to_decimal(value: float | int | str | Decimal | None) -> Decimal | None:
    """A finite Decimal, or None for IB's unset/NaN/empty values."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return None if value == UNSET_INTEGER else Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            parsed = Decimal(text)
        except InvalidOperation:
            return None
        if not parsed.is_finite() or abs(parsed) >= Decimal(UNSET_DOUBLE_THRESHOLD):
            return None
        return parsed
    if math.isnan(value) or math.isinf(value) or abs(value) >= UNSET_DOUBLE_THRESHOLD:
        return None
    number = float(value)
    return Decimal(int(number)) if number.is_integer() else Decimal(repr(number))


def to_price(value: float | None) -> Decimal | None:
    """A market price: IB sends -1 (and 0) for 'no quote on this side'."""
    price = to_decimal(value)
    return price if price is not None and price > 0 else None


def to_float(value: Decimal) -> float:
    """Only where ib_async demands a float (order quantities and prices)."""
    return float(value)


def is_unset(value: float | str | None) -> bool:
    return to_decimal(value) is None
