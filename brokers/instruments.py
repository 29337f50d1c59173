"""What instrument an order is for: the request side of futures, options and non-US listings.

`preview_trade` takes the instrument as a ticker plus optional fields named as IB names them
(`sec_type`, `exchange`, `currency`, `expiry`, `strike`, `right`, `multiplier`), or as a ticker
in one of the derivative notations below. Both are read here, once, into an `Instrument`; a
field that makes no sense for the security type is refused (alpaca-py style), each problem
named by its argument.

Notations (the tool descriptions promise exactly these):

* a bare ticker (``AAPL``, ``ES``, ``VOD``) is always the stock or ETF, unless ``sec_type`` says otherwise;
* futures: ``/ES`` (front month), ``/ES 202612`` or ``ES 202612`` (a contract month, YYYYMM),
  ``/MESZ6`` or ``/MESZ26`` (root, month code F G H J K M N Q U V X Z, year: one digit is the next
  year ending in it, from this month on; two digits are 20YY);
* options: ``SPY 20261218 600 C`` (underlying, expiry YYYYMMDD, strike, C/P or CALL/PUT) or the OCC
  symbol ``SPY   261218C00600000`` (spaces optional).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, StringConstraints, model_validator

MONTH_CODES = "FGHJKMNQUVXZ"
INSTRUMENT_FIELDS = ("sec_type", "exchange", "currency", "expiry", "strike", "right", "multiplier")
"""The `preview_trade` arguments that name the instrument (beside `ticker`)."""


class SecType(StrEnum):
    STOCK = "STK"
    FUTURE = "FUT"
    OPTION = "OPT"
    INDEX = "IND"


DERIVATIVES = frozenset({SecType.FUTURE, SecType.OPTION})
ORDER_SEC_TYPES = frozenset({SecType.STOCK, SecType.FUTURE, SecType.OPTION})
"""IND is for quotes only: an index is not traded, its options and futures are."""

_OPTION = re.compile(r"^([A-Z][A-Z0-9.]{0,9}) (\d{8}) (\d+(?:\.\d+)?) ?(C|P|CALL|PUT)$")
_OCC = re.compile(r"^([A-Z][A-Z0-9.]{0,5}) *(\d{6})([CP])(\d{8})$")
_FUTURE_MONTH = re.compile(r"^/?([A-Z0-9]{1,5}) (\d{6})$")
_FUTURE_FRONT = re.compile(r"^/([A-Z0-9]{1,5})$")
_FUTURE_CODE = re.compile(rf"^/([A-Z0-9]{{1,4}})([{MONTH_CODES}])(\d{{1,2}})$")


class FieldProblems(ValueError):
    """Problems named by argument, raised inside the order model and reported field by field."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['problem']}" for p in problems))


@dataclass(frozen=True)
class Instrument:
    """The instrument an order names: one canonical object the broker adapters read."""

    sec_type: SecType
    symbol: str
    exchange: str | None = None
    currency: str | None = None
    expiry: str | None = None
    strike: Decimal | None = None
    right: str | None = None
    multiplier: Decimal | None = None

    @property
    def derivative(self) -> bool:
        return self.sec_type in DERIVATIVES

    @property
    def front_month(self) -> bool:
        return self.sec_type is SecType.FUTURE and not self.expiry

    def as_json(self) -> dict[str, Any]:
        """As stored with a preview: what the human confirmed (Decimals as exact text)."""
        return {
            "sec_type": self.sec_type.value, "symbol": self.symbol, "exchange": self.exchange,
            "currency": self.currency, "expiry": self.expiry,
            "strike": None if self.strike is None else str(self.strike), "right": self.right,
            "multiplier": None if self.multiplier is None else str(self.multiplier),
        }


def _code_year(digits: str, month: int, today: dt.date) -> int:
    if len(digits) == 2:
        return 2000 + int(digits)
    year = today.year - today.year % 10 + int(digits)
    return year + 10 if (year, month) < (today.year, today.month) else year


def parse_notation(ticker: str, today: dt.date | None = None) -> Instrument | None:
    """The derivative a ticker's notation names (no listing fields yet), or None for a plain ticker (a stock,
    ETF or index)."""
    text = " ".join(ticker.strip().upper().split())
    if match := _OPTION.match(text):
        symbol, expiry, strike, right = match.groups()
        return Instrument(SecType.OPTION, symbol, expiry=expiry, strike=Decimal(strike), right=right[0])
    if match := _OCC.match(text.replace(" ", "")):
        symbol, yymmdd, right, strike = match.groups()
        return Instrument(SecType.OPTION, symbol, expiry=f"20{yymmdd}", strike=Decimal(strike) / 1000, right=right)
    if match := _FUTURE_MONTH.match(text):
        return Instrument(SecType.FUTURE, match.group(1), expiry=match.group(2))
    if match := _FUTURE_CODE.match(text):
        root, code, digits = match.groups()
        month = MONTH_CODES.index(code) + 1
        year = _code_year(digits, month, today or dt.date.today())
        return Instrument(SecType.FUTURE, root, expiry=f"{year:04d}{month:02d}")
    if match := _FUTURE_FRONT.match(text):
        return Instrument(SecType.FUTURE, match.group(1))
    return None


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _right(value: Any) -> Any:
    text = _upper(value)
    return {"CALL": "C", "PUT": "P"}.get(text, text) if isinstance(text, str) else text


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("must be a number such as 600 or 2.5") from None
    return value


def _positive(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValueError("must be a number greater than zero")
    if value.adjusted() >= 9 or -(value.normalize().as_tuple().exponent or 0) > 4:  # type: ignore[operator]
        raise ValueError("must have at most 9 digits and 4 decimal places")
    return value


def _expiry(value: str) -> str:
    try:
        dt.datetime.strptime(value, "%Y%m%d" if len(value) == 8 else "%Y%m")
    except ValueError:
        raise ValueError("expiry must be a real month (YYYYMM) or date (YYYYMMDD)") from None
    return value


ExchangeText = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z][A-Z0-9.]{0,15}$")]
CurrencyText = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{3}$")]
ExpiryText = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^\d{6}(\d{2})?$"),
                       AfterValidator(_expiry)]
PositiveNumber = Annotated[Decimal, BeforeValidator(_number), AfterValidator(_positive)]

FIELD_HINTS = {
    "exchange": "exchange must be an exchange code such as SMART, LSE, CME or CBOE",
    "currency": "currency must be a 3-letter ISO code such as USD, GBP or EUR",
    "expiry": "expiry must be YYYYMM (a futures month) or YYYYMMDD (an option's expiry date)",
}
"""What to say for a pattern mismatch on these fields (pydantic would print the regular expression)."""


class InstrumentFields(BaseModel):
    """The instrument arguments of an order; `OrderRequest` inherits them (and its `ticker`)."""

    sec_type: Annotated[SecType | None, BeforeValidator(_upper)] = None
    exchange: ExchangeText | None = None
    currency: CurrencyText | None = None
    expiry: ExpiryText | None = None
    strike: PositiveNumber | None = None
    right: Annotated[Literal["C", "P"] | None, BeforeValidator(_right)] = None
    multiplier: PositiveNumber | None = None

    @model_validator(mode="after")
    def _fields_fit_the_sec_type(self) -> InstrumentFields:
        instrument_of(str(getattr(self, "ticker", "")), self)  # raises FieldProblems
        return self

    @property
    def instrument(self) -> Instrument:
        return instrument_of(str(getattr(self, "ticker", "")), self)

    def instrument_arguments(self) -> dict[str, Any]:
        """The instrument arguments the caller gave, as stored with a preview and parsed again at execute."""
        return {name: str(value) if isinstance(value, (Decimal, StrEnum)) else value
                for name in INSTRUMENT_FIELDS if (value := getattr(self, name)) is not None}


_ALLOWED: dict[SecType, frozenset[str]] = {
    SecType.STOCK: frozenset({"exchange", "currency"}),
    SecType.INDEX: frozenset({"exchange", "currency"}),
    SecType.FUTURE: frozenset({"exchange", "currency", "expiry", "multiplier"}),
    SecType.OPTION: frozenset({"exchange", "currency", "expiry", "strike", "right", "multiplier"}),
}


def instrument_of(ticker: str, fields: InstrumentFields, *, for_order: bool = True) -> Instrument:
    """Merge the ticker's notation with the explicit fields; every misfit is a problem named by its field."""
    notation = parse_notation(ticker)
    problems: list[dict[str, str]] = []
    sec_type = fields.sec_type or (notation.sec_type if notation else SecType.STOCK)
    if notation is not None and fields.sec_type is not None and fields.sec_type is not notation.sec_type:
        problems.append({"field": "sec_type", "problem": f"sec_type {fields.sec_type.value} contradicts the "
                         f"ticker {ticker!r}, which names a {notation.sec_type.value}"})
    if for_order and sec_type not in ORDER_SEC_TYPES:
        problems.append({"field": "sec_type", "problem": "sec_type IND is for quotes only: an index is not traded "
                         "(use STK, FUT or OPT; index options are OPT on the index, e.g. SPX)"})
    merged: dict[str, Any] = {}
    for name in ("expiry", "strike", "right"):
        given, noted = getattr(fields, name), getattr(notation, name, None)
        if given is not None and noted is not None and given != noted and not str(noted).startswith(str(given)):
            problems.append({"field": name, "problem": f"{name} {given} contradicts the ticker {ticker!r}"})
        merged[name] = noted if noted is not None else given
    for name in INSTRUMENT_FIELDS[1:]:
        if getattr(fields, name) is not None and name not in _ALLOWED[sec_type]:
            problems.append({"field": name, "problem": f"{name} is not allowed for sec_type {sec_type.value} "
                             f"({_what_fits(sec_type)})"})
    if sec_type is SecType.OPTION:
        for name in ("expiry", "strike", "right"):
            if merged[name] is None:
                problems.append({"field": name, "problem": f"{name} is required for sec_type OPT (or give the "
                                 "OCC symbol as ticker, e.g. 'SPY   261218C00600000')"})
    if problems:
        raise FieldProblems(problems)
    symbol = notation.symbol if notation else " ".join(ticker.strip().upper().split()).lstrip("/")
    return Instrument(sec_type, symbol, fields.exchange, fields.currency, merged["expiry"], merged["strike"],
                      merged["right"], fields.multiplier)


def _what_fits(sec_type: SecType) -> str:
    allowed = sorted(_ALLOWED[sec_type])
    return f"{sec_type.value} takes {', '.join(allowed)}; expiry, strike and right are for FUT/OPT" if (
        sec_type in (SecType.STOCK, SecType.INDEX)) else f"{sec_type.value} takes {', '.join(allowed)}"
