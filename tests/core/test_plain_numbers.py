"""plain_decimal: every result view's numbers go through it, so its fast form must equal the plain definition."""

from __future__ import annotations

import random
from decimal import Decimal, InvalidOperation

import pytest

from services.plain_numbers import plain_decimal, plain_text


def by_definition(value: Decimal) -> Decimal:
    """Normalized, and a positive exponent brought back to 0: the definition the fast form replaced."""
    if not value.is_finite():
        return value
    reduced = value.normalize()
    exponent = reduced.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        reduced = reduced.quantize(Decimal(1))
    return reduced


EDGES = ["3.00000000", "0E-8", "1E+2", "100", "-0.00", "0", "150.25000000", "1.5E-7", "-1E+3", "12345678.9",
         "0.00095000", "1234567890123456789012345678", "-7.10", "Infinity", "-Infinity", "NaN"]


def test_the_fast_form_equals_the_definition_on_edges_and_random_values() -> None:
    rng = random.Random(13)
    values = [Decimal(v) for v in EDGES] + [
        Decimal(rng.randint(-10**12, 10**12)).scaleb(rng.randint(-12, 6)) for _ in range(5000)]
    for value in values:
        got, want = plain_decimal(value), by_definition(value)
        assert str(got) == str(want) and got.as_tuple() == want.as_tuple(), value


def test_plain_text_has_no_exponent_and_no_padding() -> None:
    assert [plain_text(Decimal(v)) for v in ("3.00000000", "0E-8", "1E+2", "1.5E-7", "-0.00")] == [
        "3", "0", "100", "0.00000015", "-0"]


def test_a_whole_number_too_long_for_the_context_is_refused_as_before() -> None:
    with pytest.raises(InvalidOperation):
        by_definition(Decimal("1E+30"))
    with pytest.raises(InvalidOperation):
        plain_decimal(Decimal("1E+30"))
