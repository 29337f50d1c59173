"""What get_quote names: a ticker plus preview_trade's own instrument arguments, parsed by the same rules
(`brokers.instruments.InstrumentFields`), so VOD on LSE in GBP or an option can be quoted as it is traded."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from brokers.instruments import INSTRUMENT_FIELDS, InstrumentFields
from brokers.models import TickerText, _invalid, _problems_of


class QuoteTarget(InstrumentFields):
    ticker: TickerText

    @property
    def names_instrument(self) -> bool:
        """True when any instrument argument was given (else the ticker alone says what to quote)."""
        return any(getattr(self, name) is not None for name in INSTRUMENT_FIELDS)


def parse_quote_target(**fields: Any) -> QuoteTarget:
    """The one parse of a quote's ticker and instrument arguments: every problem at once, each named."""
    try:
        return QuoteTarget(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise _invalid("quote", _problems_of(exc)) from None
