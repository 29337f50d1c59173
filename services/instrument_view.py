"""How a preview's instrument is shown: the `instrument` object of previews and order results, and its
part of the one-line summary a human confirms (type, local symbol, exchange, expiry, strike and right,
multiplier, currency; "contracts" for derivatives)."""

from __future__ import annotations

from typing import Any

from db.models import TradePreview
from services.plain_numbers import plain_json_number


def _object(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


DERIVATIVE_TYPES = frozenset({"FUT", "OPT", "FOP"})


def derivative_of(row: TradePreview) -> dict[str, Any] | None:
    """What a derivative preview is (type, month, strike, multiplier, listing), so nobody mistakes contracts
    for shares; also for a stock on a named non-US listing (exchange and currency), else None."""
    data: dict[str, Any] = row.broker_preview_data or {}
    raw = _object(data.get("raw")) or {}
    contract = _object(raw.get("contract")) or {}
    derivative = contract.get("sec_type") in DERIVATIVE_TYPES
    listed = contract.get("exchange") not in (None, "SMART") or contract.get("currency") not in (None, "USD")
    if not derivative and not listed:
        return None
    return {"sec_type": contract["sec_type"], "local_symbol": contract.get("local_symbol"),
            "expiry": contract.get("expiry"), "strike": plain_json_number(contract.get("strike")),
            "right": contract.get("right"),
            "multiplier": str(data.get("multiplier") or contract.get("multiplier")),
            "exchange": contract.get("exchange"), "currency": contract.get("currency"),
            "quantity_unit": "contracts" if derivative else "shares"}


_RIGHTS = {"C": "call", "P": "put"}


def instrument_text(instrument: dict[str, Any]) -> str:
    """' (FUT MESZ6 on CME, expiry 20261218, multiplier 5, USD)' for the one-line summary."""
    parts = [f"{instrument['sec_type']} {instrument['local_symbol'] or ''}".rstrip() + f" on {instrument['exchange']}"]
    if instrument["quantity_unit"] == "contracts":
        parts.append(f"expiry {instrument['expiry']}")
        if instrument.get("strike"):
            parts.append(f"strike {instrument['strike']} {_RIGHTS.get(instrument.get('right') or '', '')}".rstrip())
        parts.append(f"multiplier {instrument['multiplier']}")
    parts.append(str(instrument.get("currency") or "USD"))
    return f" ({', '.join(parts)})"
