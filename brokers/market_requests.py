"""Market-data arguments, parsed once into canonical form (IBKR's own strings).

People write "5m", "daily" or "1 month"; IB wants "5 mins", "1 day" and "1 M". Every entry point
(service, MCP tool, CLI) parses through here, so a bad value is a VALIDATION_ERROR that lists
what is accepted, before any broker is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from brokers.errors import ErrorCode, TradeError
from brokers.models import canonical_ticker

BAR_SIZES: dict[str, int] = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30,
    "1 min": 60, "2 mins": 120, "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900,
    "20 mins": 1200, "30 mins": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800,
    "4 hours": 14400, "8 hours": 28800, "1 day": 86400, "1 week": 604800, "1 month": 2592000,
}
"""IBKR's bar sizes and their length in seconds."""

DURATION_UNITS: dict[str, tuple[int, int]] = {"S": (86400, 1), "D": (365, 86400), "W": (52, 604800),
                                              "M": (12, 2592000), "Y": (20, 31536000)}
"""Duration unit -> (largest count accepted, seconds per unit)."""

WHAT_TO_SHOW = ("TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST")
MAX_BARS = 10_000
"""More bars than this in one request is refused: IB would reject or throttle it anyway."""

_RTH_SHARE, _EXTENDED_SHARE = 6.5 / 24 * 5 / 7, 16 / 24 * 5 / 7
"""Share of calendar time that intraday bars cover (regular hours, or 04:00-20:00)."""

_AMOUNT = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")
_BAR_UNITS = {
    "s": "secs", "sec": "secs", "secs": "secs", "second": "secs", "seconds": "secs",
    "m": "mins", "min": "mins", "mins": "mins", "minute": "mins", "minutes": "mins",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "d": "day", "day": "day", "days": "day", "w": "week", "wk": "week", "week": "week", "weeks": "week",
    "mo": "month", "mon": "month", "month": "month", "months": "month",
}
_BAR_WORDS = {"daily": "1 day", "weekly": "1 week", "monthly": "1 month", "hourly": "1 hour"}
_DURATION_UNITS = {
    "s": "S", "sec": "S", "secs": "S", "second": "S", "seconds": "S",
    "min": "MIN", "mins": "MIN", "minute": "MIN", "minutes": "MIN", "h": "H", "hr": "H", "hour": "H", "hours": "H",
    "d": "D", "day": "D", "days": "D", "w": "W", "wk": "W", "week": "W", "weeks": "W",
    "mo": "M", "mon": "M", "month": "M", "months": "M", "y": "Y", "yr": "Y", "year": "Y", "years": "Y",
}


def _invalid(field: str, value: Any, accepted: list[str] | str, hint: str = "") -> TradeError:
    listed = accepted if isinstance(accepted, str) else ", ".join(repr(a) for a in accepted)
    return TradeError(
        ErrorCode.VALIDATION_ERROR,
        f"{field} {str(value)[:40]!r} is not accepted{hint}; accepted: {listed}",
        {"field": field, "accepted": accepted},
    )


def parse_bar_size(value: Any) -> str:
    """'5m', '5 min', '5 minutes', 'daily', '1D', '1 W' ... -> IBKR's '5 mins', '1 day', '1 week'."""
    accepted = list(BAR_SIZES)
    if not isinstance(value, str) or not value.strip():
        raise _invalid("bar_size", value, accepted)
    text = value.strip()
    if text.lower() in _BAR_WORDS:
        return _BAR_WORDS[text.lower()]
    match = _AMOUNT.match(text)
    if match is None:
        raise _invalid("bar_size", value, accepted)
    count, unit = int(match.group(1)), match.group(2)
    name = "month" if unit == "M" else _BAR_UNITS.get(unit.lower())
    if name is None:
        raise _invalid("bar_size", value, accepted)
    if count == 1 and name in ("secs", "mins", "hours"):
        canonical = "1 secs" if name == "secs" else f"1 {name[:-1]}"
    else:
        canonical = f"{count} {name}"
    if canonical not in BAR_SIZES:
        raise _invalid("bar_size", value, accepted)
    return canonical


def parse_duration(value: Any) -> str:
    """'1 month', '1M', '30 days', '2w', '1y', '90 minutes' -> IBKR's '1 M', '30 D', '2 W', '1 Y', '5400 S'."""
    accepted = "'<n> S' (seconds, up to 86400), '<n> D' (up to 365), '<n> W' (up to 52), '<n> M' (up to 12), " \
               "'<n> Y' (up to 20); minutes and hours are converted to seconds"
    if not isinstance(value, str) or not value.strip():
        raise _invalid("duration", value, accepted)
    match = _AMOUNT.match(value)
    if match is None:
        raise _invalid("duration", value, accepted)
    count, unit = int(match.group(1)), match.group(2)
    code = unit if unit in DURATION_UNITS else _DURATION_UNITS.get(unit.lower())
    if code == "MIN":
        count, code = count * 60, "S"
    elif code == "H":
        count, code = count * 3600, "S"
    if code is None or code not in DURATION_UNITS:
        raise _invalid("duration", value, accepted)
    if not 1 <= count <= DURATION_UNITS[code][0]:
        raise _invalid("duration", value, accepted, hint=" (out of range)")
    return f"{count} {code}"


def duration_seconds(duration: str) -> int:
    count, code = duration.split()
    return int(count) * DURATION_UNITS[code][1]


def parse_what_to_show(value: Any) -> str:
    text = value.strip().upper().replace(" ", "_") if isinstance(value, str) else ""
    if text not in WHAT_TO_SHOW:
        raise _invalid("what_to_show", value, list(WHAT_TO_SHOW))
    return text


def parse_end(value: Any) -> datetime | None:
    """None (now), a datetime, or ISO-8601 text. A date means the end of that day; naive times are UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(23, 59, 59))
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = (datetime.combine(date.fromisoformat(text), time(23, 59, 59)) if len(text) == 10
                      else datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise _invalid("end", value, "ISO-8601, e.g. '2025-06-30' or '2025-06-30T16:00:00-04:00'") from None
    else:
        raise _invalid("end", value, "ISO-8601, e.g. '2025-06-30' or '2025-06-30T16:00:00-04:00'")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_rth_only(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise _invalid("rth_only", value, ["true", "false"])


@dataclass(frozen=True)
class BarsRequest:
    """A historical-bars request in IBKR's canonical strings; hashable, so it keys the read cache."""

    ticker: str
    bar_size: str
    duration: str
    what_to_show: str = "TRADES"
    rth_only: bool = True
    end: datetime | None = None

    @property
    def estimated_bars(self) -> int:
        seconds, size = duration_seconds(self.duration), BAR_SIZES[self.bar_size]
        if size < 86400:
            seconds = int(seconds * (_RTH_SHARE if self.rth_only else _EXTENDED_SHARE))
        return max(1, seconds // size)


def parse_bars_request(
    ticker: str, bar_size: Any, duration: Any, what_to_show: Any = "TRADES", rth_only: Any = True, end: Any = None
) -> BarsRequest:
    """All arguments checked at once; the ticker must already be in canonical form."""
    return checked_bars_request(BarsRequest(ticker, parse_bar_size(bar_size), parse_duration(duration),
                                            parse_what_to_show(what_to_show), parse_rth_only(rth_only),
                                            parse_end(end)))


def checked_bars_request(request: BarsRequest) -> BarsRequest:
    """The rules that involve several fields, for a request whose fields are each canonical already."""
    if request.what_to_show == "ADJUSTED_LAST" and request.end is not None:
        raise TradeError(ErrorCode.VALIDATION_ERROR, "what_to_show ADJUSTED_LAST cannot have an end time "
                         "(IBKR only serves it up to now)", {"field": "end"})
    if request.estimated_bars > MAX_BARS:
        raise TradeError(
            ErrorCode.VALIDATION_ERROR,
            f"{request.duration} of {request.bar_size} bars is about {request.estimated_bars} bars; at most "
            f"{MAX_BARS} per request: use a larger bar size or a shorter duration",
            {"field": "duration", "estimated_bars": request.estimated_bars, "max_bars": MAX_BARS},
        )
    return request


def parse_expiry(value: Any) -> str | None:
    """An option expiry as YYYYMMDD ('2025-12-19' is accepted too), or None for all expiries."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip().replace("-", "") if isinstance(value, str) else ""
    if not re.fullmatch(r"\d{8}", text):
        raise _invalid("expiry", value, "YYYYMMDD or YYYY-MM-DD, e.g. '20251219'")
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise _invalid("expiry", value, "a real calendar date, YYYYMMDD") from None
    return text


MAX_TICKERS = 50


def parse_tickers(value: Any) -> tuple[str, ...]:
    """A list of tickers (or one comma-separated string), canonical, de-duplicated, in the order given."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise _invalid("tickers", value, "a non-empty list of ticker symbols, e.g. ['AAPL', 'MSFT']")
    if len(items) > MAX_TICKERS:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"at most {MAX_TICKERS} tickers per call, got {len(items)}",
                         {"field": "tickers", "max": MAX_TICKERS})
    result: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise _invalid("tickers", item, "ticker symbols as text, e.g. 'AAPL'")
        try:
            ticker = canonical_ticker(item.strip())
        except TradeError:
            raise _invalid("tickers", item, "ticker symbols such as 'AAPL', 'BRK.B' or 'SPY 20251219 500 C'") from None
        if ticker not in result:
            result.append(ticker)
    return tuple(result)
