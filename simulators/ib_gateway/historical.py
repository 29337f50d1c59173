"""Deterministic, plausible historical bars for the simulator's instruments.

Bar times follow the US equity sessions (regular 09:30-16:00 New York time, extended
04:00-20:00, weekdays). Prices are a random walk whose every step is seeded by
(conId, bar size, bar time), anchored so the last close is the instrument's current mark:
the same request against the same quote always gives the same series.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from .accounts import mark_price
from .instruments import Instrument

NEW_YORK = ZoneInfo("America/New_York")
BAR_SECONDS: dict[str, int] = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30, "1 min": 60, "2 mins": 120,
    "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200, "30 mins": 1800,
    "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "4 hours": 14400, "8 hours": 28800,
    "1 day": 86400, "1 week": 604800, "1 month": 2592000,
}
DURATION_SECONDS = {"S": 1, "D": 86400, "W": 604800, "M": 2592000, "Y": 31536000}
MAX_BARS = 20_000
DAILY_VOLATILITY = 0.015
HEAD_YEARS = 20
"""Every instrument's history starts this many years before the book's date (options: 60 days)."""


class HistoricalRequestError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SimBar:
    start: dt.datetime
    daily: bool
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None

    def date_text(self, format_date: int) -> str:
        if self.daily:
            return self.start.strftime("%Y%m%d")
        if format_date == 2:
            return str(int(self.start.timestamp()))
        return self.start.astimezone(NEW_YORK).strftime("%Y%m%d %H:%M:%S US/Eastern")


def parse_end(text: str, now: dt.datetime) -> dt.datetime:
    """'' (now), 'YYYYMMDD-HH:MM:SS' (UTC) or 'YYYYMMDD HH:MM:SS[ zone]' as TWS accepts them."""
    text = text.strip()
    if not text:
        return now
    try:
        if "-" in text[:9]:
            return dt.datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=dt.UTC)
        parts = text.split(" ")
        zone = ZoneInfo(parts[2]) if len(parts) > 2 else dt.UTC
        return dt.datetime.strptime(" ".join(parts[:2]), "%Y%m%d %H:%M:%S").replace(tzinfo=zone)
    except (ValueError, KeyError) as exc:
        raise HistoricalRequestError(
            321, f"Error validating request:-'bN' : cause - invalid end date {text!r}") from exc


def head_timestamp(inst: Instrument, today: dt.date) -> dt.datetime:
    days = 60 if inst.sec_type in ("OPT", "FOP") else 365 * HEAD_YEARS
    start = dt.datetime.combine(today - dt.timedelta(days=days), dt.time(9, 30), NEW_YORK)
    return start.astimezone(dt.UTC)


def _bar_starts(end: dt.datetime, duration: str, bar_size: str, rth: bool) -> list[dt.datetime]:
    count, unit = duration.split()
    size = BAR_SECONDS[bar_size]
    if unit == "D":
        begin = _trading_days_back(end, int(count), dt.time(9, 30) if rth else dt.time(4, 0))
    else:
        begin = end - dt.timedelta(seconds=int(count) * DURATION_SECONDS[unit])
    starts: list[dt.datetime] = []
    day = begin.astimezone(NEW_YORK).date()
    last_day = end.astimezone(NEW_YORK).date()
    while day <= last_day:
        if day.weekday() < 5:
            if size >= 86400:
                if _period_start(day, bar_size) and dt.datetime.combine(day, dt.time(9, 30), NEW_YORK) < end:
                    starts.append(dt.datetime.combine(day, dt.time(0, 0), NEW_YORK))
            else:
                open_, close = (dt.time(9, 30), dt.time(16, 0)) if rth else (dt.time(4, 0), dt.time(20, 0))
                t = dt.datetime.combine(day, open_, NEW_YORK)
                stop = dt.datetime.combine(day, close, NEW_YORK)
                while t < stop:
                    if begin <= t < end:
                        starts.append(t)
                    t += dt.timedelta(seconds=size)
        if len(starts) > MAX_BARS:
            raise HistoricalRequestError(162, "Historical Market Data Service error message:Time length exceed max.")
        day += dt.timedelta(days=1)
    return starts


def _trading_days_back(end: dt.datetime, count: int, session_open: dt.time) -> dt.datetime:
    """As TWS counts 'N D': the last N weekdays whose session had opened by `end`."""
    day = end.astimezone(NEW_YORK).date()
    found: list[dt.date] = []
    while len(found) < count:
        if day.weekday() < 5 and dt.datetime.combine(day, session_open, NEW_YORK) < end:
            found.append(day)
        day -= dt.timedelta(days=1)
    return dt.datetime.combine(found[-1], dt.time(0, 0), NEW_YORK)


def _period_start(day: dt.date, bar_size: str) -> bool:
    if bar_size == "1 week":
        return day.weekday() == 0
    if bar_size == "1 month":
        first = day.replace(day=1)
        while first.weekday() >= 5:
            first += dt.timedelta(days=1)
        return day == first
    return True


def _step(con_id: int, bar_size: str, start: dt.datetime, volatility: float) -> tuple[float, float, int]:
    """(log return, wick size, volume) of one bar: the same inputs always give the same bar."""
    seed = hashlib.sha256(f"{con_id}|{bar_size}|{int(start.timestamp())}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    return rng.gauss(0.0, volatility), abs(rng.gauss(0.0, volatility)) * 0.6, rng.randint(2_000, 90_000)


def generate_bars(inst: Instrument, end: dt.datetime, duration: str, bar_size: str, rth: bool,
                  what_to_show: str) -> list[SimBar]:
    starts = _bar_starts(end, duration, bar_size, rth)
    size = BAR_SECONDS[bar_size]
    daily = size >= 86400
    scale = size / 86400 if daily else size / (6.5 * 3600)
    volatility = DAILY_VOLATILITY * math.sqrt(max(scale, 1e-6))
    tick = inst.min_tick
    close = float(mark_price(inst) or Decimal(100))
    bars: list[SimBar] = []
    for start in reversed(starts):
        change, wick, volume = _step(inst.con_id, bar_size, start, volatility)
        open_ = close / math.exp(change)
        high = max(open_, close) * (1 + wick)
        low = min(open_, close) * (1 - wick)
        shown = None if what_to_show in ("MIDPOINT", "BID", "ASK", "BID_ASK") else Decimal(volume * max(1, size // 60))
        bars.append(SimBar(start.astimezone(dt.UTC), daily, _tick(open_, tick), _tick(high, tick), _tick(low, tick),
                           _tick(close, tick), shown))
        close = open_
    bars.reverse()
    return bars


def _tick(value: float, tick: Decimal) -> Decimal:
    price = (Decimal(repr(value)) / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick
    return max(price, tick)
